//! The dashboard: the platform's webhook screens (list, create/edit form, detail page with
//! Overview, Test and Batch Status) as one static page that talks to the `/v1` API from
//! the browser with the API key the person signs in with.
//!
//! Its files are compiled into the binary, so a running server has its dashboard with no
//! build step, CDN or network. Only the exact paths below are routed: everything else,
//! `/v1/…` and `/healthz` included, falls through to the API's own routes and its JSON
//! 404. The page routes by URL fragment (`/#/webhooks/wh_…`), so deep links need no
//! server routes either.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// One embedded file and the path it is served at.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../assets/dashboard/index.html"),
    },
    Asset {
        path: "/assets/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/dashboard/app.js"),
    },
    Asset {
        path: "/assets/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/dashboard/app.css"),
    },
    Asset {
        path: "/assets/favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../assets/dashboard/favicon.svg"),
    },
];

/// Only this origin's own files and API: the page holds an API key, so no inline script,
/// no third-party origin and no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Mounts `GET /` and the dashboard's asset paths. Mount it before the default service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for asset in ASSETS {
        cfg.service(
            web::resource(asset.path)
                .route(web::get().to(move || serve(asset)))
                .route(web::head().to(move || serve(asset)))
                .default_service(web::to(super::wrong_method)),
        );
    }
}

async fn serve(asset: &'static Asset) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, asset.content_type))
        // Small files, always revalidated, so a new binary's dashboard shows at once.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(asset.body)
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::test::{call_service, init_service, read_body, TestRequest};
    use actix_web::{web, App};

    use super::*;

    async fn call(method: &str, path: &str) -> (StatusCode, String, String) {
        let app =
            init_service(App::new().configure(configure).default_service(web::to(super::super::unknown_route))).await;
        let req = TestRequest::default().method(method.parse().unwrap()).uri(path).to_request();
        let resp = call_service(&app, req).await;
        let status = resp.status();
        let content_type =
            resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let body = read_body(resp).await;
        (status, content_type, String::from_utf8_lossy(&body).into_owned())
    }

    #[actix_web::test]
    async fn root_serves_the_page_and_its_assets() {
        let (status, content_type, body) = call("GET", "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("text/html"));
        assert!(body.contains("assets/app.js") && body.contains("assets/app.css"));
        for (path, kind) in [
            ("/assets/app.js", "text/javascript"),
            ("/assets/app.css", "text/css"),
            ("/assets/favicon.svg", "image/svg+xml"),
        ] {
            let (status, content_type, body) = call("GET", path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(content_type.starts_with(kind), "{path}: {content_type}");
            assert!(!body.is_empty(), "{path}");
        }
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        // Works offline: no CDN, no web font, no remote script, style or image.
        for asset in ASSETS {
            let text = String::from_utf8_lossy(asset.body);
            for remote in ["src=\"http", "href=\"http", "url(http", "url(\"http", "@import", "//cdn"] {
                assert!(!text.contains(remote), "{} loads {remote}…", asset.path);
            }
        }
    }

    #[actix_web::test]
    async fn other_paths_still_get_the_json_404_and_wrong_methods_a_405() {
        for path in ["/nope", "/assets/", "/assets/other.js", "/index.html"] {
            let (status, content_type, body) = call("GET", path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert!(content_type.starts_with("application/json"), "{path}");
            assert!(body.contains("\"not_found\""), "{path}: {body}");
        }
        let (status, _, body) = call("POST", "/").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(body.contains("\"method_not_allowed\""));
    }
}
