// @generated automatically by Diesel CLI.

diesel::table! {
    accounts (id) {
        id -> Text,
        name -> Text,
        email -> Text,
        api_key_hash -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    attempts (id) {
        id -> BigInt,
        batch_id -> Text,
        retry_count -> Integer,
        attempted_at -> BigInt,
        duration_ms -> BigInt,
        response_code -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    batches (seq) {
        seq -> BigInt,
        id -> Text,
        webhook_id -> Text,
        status -> Text,
        test -> Bool,
        event_count -> Integer,
        attempt_count -> Integer,
        created_at -> BigInt,
        last_attempt_at -> Nullable<BigInt>,
        next_attempt_at -> Nullable<BigInt>,
        response_code -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        error -> Nullable<Text>,
        first_event_id -> Nullable<BigInt>,
        last_event_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    deliveries (webhook_id, event_id) {
        webhook_id -> Text,
        event_id -> BigInt,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        account_id -> Text,
        payload -> Text,
        received_at -> BigInt,
    }
}

diesel::table! {
    idempotency_keys (account_id, key) {
        account_id -> Text,
        key -> Text,
        fingerprint -> Text,
        accepted -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    notifications (id) {
        id -> BigInt,
        webhook_id -> Text,
        kind -> Text,
        spell_started_at -> BigInt,
        created_at -> BigInt,
        next_attempt_at -> BigInt,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<BigInt>,
        cancelled -> Bool,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Text,
        account_id -> Text,
        name -> Text,
        target_url -> Text,
        source -> Text,
        events -> Text,
        auth_type -> Text,
        auth_username -> Nullable<Text>,
        auth_password -> Nullable<Text>,
        status -> Text,
        disabled_reason -> Nullable<Text>,
        health -> Text,
        failing_since -> Nullable<BigInt>,
        last_success_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        failed_batches -> Integer,
        last_error -> Nullable<Text>,
        disable_at -> Nullable<BigInt>,
        batched_upto -> BigInt,
    }
}

diesel::joinable!(webhooks -> accounts (account_id));

diesel::allow_tables_to_appear_in_same_query!(accounts, attempts, batches, deliveries, events, notifications, webhooks,);
