//! The nine email activity types and a compact set of them, used to filter which events
//! a webhook receives. The set is a bit mask so routing an event costs one AND.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One kind of email activity reported by the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Bounce,
    Delay,
    Injection,
    Open,
    Click,
    Delivery,
    SpamComplaint,
    LinkUnsubscribe,
    ListUnsubscribe,
}

impl EventType {
    /// Every type, in the order the API lists them.
    pub const ALL: [EventType; 9] = [
        EventType::Bounce,
        EventType::Delay,
        EventType::Injection,
        EventType::Open,
        EventType::Click,
        EventType::Delivery,
        EventType::SpamComplaint,
        EventType::LinkUnsubscribe,
        EventType::ListUnsubscribe,
    ];

    /// The wire name, as in an event's `status` field.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Bounce => "bounce",
            EventType::Delay => "delay",
            EventType::Injection => "injection",
            EventType::Open => "open",
            EventType::Click => "click",
            EventType::Delivery => "delivery",
            EventType::SpamComplaint => "spam_complaint",
            EventType::LinkUnsubscribe => "link_unsubscribe",
            EventType::ListUnsubscribe => "list_unsubscribe",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a string that names no event type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type {0:?}; expected one of bounce, delay, injection, open, click, delivery, spam_complaint, link_unsubscribe, list_unsubscribe")]
pub struct UnknownEventType(pub String);

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

/// A set of event types, stored as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventSet(u16);

impl EventSet {
    /// All nine types: what a webhook tracks unless told otherwise.
    pub fn all() -> Self {
        EventSet(EventType::ALL.iter().fold(0, |mask, t| mask | t.bit()))
    }

    /// No type at all.
    pub fn empty() -> Self {
        EventSet(0)
    }

    pub fn insert(&mut self, t: EventType) {
        self.0 |= t.bit();
    }

    pub fn contains(self, t: EventType) -> bool {
        self.0 & t.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members in the API's order.
    pub fn iter(self) -> impl Iterator<Item = EventType> {
        EventType::ALL.into_iter().filter(move |t| self.contains(*t))
    }

    /// Parses a list of names; the first unknown name is the error.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, UnknownEventType> {
        let mut set = EventSet::empty();
        for name in names {
            set.insert(name.parse()?);
        }
        Ok(set)
    }

    /// The comma-separated form kept in the database.
    pub fn to_db(self) -> String {
        self.iter().map(EventType::as_str).collect::<Vec<_>>().join(",")
    }

    /// Reads the database form; unknown names (from a newer version) are skipped.
    pub fn from_db(s: &str) -> Self {
        let mut set = EventSet::empty();
        for t in s.split(',').filter_map(|n| n.parse().ok()) {
            set.insert(t);
        }
        set
    }
}

impl Serialize for EventSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(EventType::as_str))
    }
}

impl<'de> Deserialize<'de> for EventSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        EventSet::from_names(names.iter().map(String::as_str)).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_name() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
        }
        assert!("bounced".parse::<EventType>().is_err());
    }

    #[test]
    fn sets_keep_api_order_and_round_trip_through_the_database_form() {
        let set = EventSet::from_names(["click", "bounce", "click"]).unwrap();
        assert_eq!(set.to_db(), "bounce,click");
        assert_eq!(EventSet::from_db(&set.to_db()), set);
        assert_eq!(EventSet::all().iter().count(), 9);
        assert!(!set.contains(EventType::Open));
    }
}
