//! What every server-rendered page shares, so that identity's sign-in pages and the web UI
//! cannot drift apart: cookies (always `__Host-`: Secure, host-only, Path=/), the security
//! headers of an HTML page (a strict Content-Security-Policy without script), and the CSRF
//! checks (the session's token, or a double-submit cookie before sign-in), in constant time;
//! and the stylesheet pages load.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ProtocolError;

/// The value of cookie `name` in the request, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value: `Secure; HttpOnly; SameSite=Lax; Path=/`, for `max_age_s` seconds
/// (0 deletes it). `name` must carry the `__Host-` prefix, which makes browsers refuse the
/// cookie unless it is Secure, host-only and for the whole site; a name without it, or a
/// value that cannot be a header, yields a cookie that expires at once.
pub fn set_cookie(name: &str, value: &str, max_age_s: i64) -> HeaderValue {
    const REFUSED: HeaderValue = HeaderValue::from_static("__Host-invalid=; Secure; Path=/; Max-Age=0");
    if !name.starts_with("__Host-") || name.contains(['=', ';', ' ']) || value.contains([';', ' ', ',']) {
        return REFUSED;
    }
    let text = format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age_s}");
    HeaderValue::from_str(&text).unwrap_or(REFUSED)
}

/// Whether the token a form presented equals the expected one (non-empty), in constant time.
pub fn csrf_matches(expected: &str, presented: &str) -> bool {
    !expected.is_empty() && warga_auth::constant_time_eq(expected.as_bytes(), presented.as_bytes())
}

/// Before sign-in, a form proves it came from our page by presenting the value of the
/// double-submit cookie `cookie_name` that page set.
pub fn double_submit_matches(headers: &HeaderMap, cookie_name: &str, presented: &str) -> bool {
    cookie(headers, cookie_name).is_some_and(|value| csrf_matches(value, presented))
}

/// Where a page's forms may send the browser, and what it tells other sites.
#[derive(Clone, Copy, Debug)]
pub struct PagePolicy<'a> {
    /// An origin beyond our own that a form may end at (an OAuth client's redirect), if any.
    pub form_origin: Option<&'a str>,
    /// The `Referrer-Policy`: `no-referrer` where URLs carry codes, `same-origin` elsewhere.
    pub referrer: &'static str,
    /// The page loads script files served by warga itself (`script-src 'self'`; never
    /// inline script). No page does unless it says so.
    pub own_scripts: bool,
}

impl Default for PagePolicy<'_> {
    fn default() -> Self {
        PagePolicy {
            form_origin: None,
            referrer: "same-origin",
            own_scripts: false,
        }
    }
}

/// An HTML page with the headers every page carries: UTF-8 HTML, `no-store`, a CSP with no
/// script (styles and images from us only, no framing, forms to us or `form_origin`),
/// `nosniff` and the referrer policy. Error statuses are marked as already rendered, so the
/// problem middleware leaves the page alone.
pub fn html_page(status: StatusCode, html: String, policy: PagePolicy<'_>) -> Response {
    let form_action = match policy.form_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    let script = if policy.own_scripts { "script-src 'self'; " } else { "" };
    let csp = format!(
        "default-src 'none'; {script}style-src 'self'; img-src 'self'; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static(policy.referrer));
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    if !status.is_success() {
        response.extensions_mut().insert(ProtocolError);
    }
    response
}

/// A script file compiled into the binary, cacheable for an hour.
pub fn script(js: &'static str) -> Response {
    let mut response = js.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}

/// A stylesheet compiled into the binary, cacheable for an hour.
pub fn stylesheet(css: &'static str) -> Response {
    let mut response = css.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

/// Whether a client asked for English: the web UI's language cookie, or else the first
/// language of `Accept-Language`. Bahasa Indonesia otherwise.
pub fn wants_english(headers: &HeaderMap) -> bool {
    match cookie(headers, "__Host-warga_lang") {
        Some(lang) => lang == "en",
        None => headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("en")),
    }
}

/// The page a browser gets for an unknown address: in Bahasa Indonesia, or English when the
/// language cookie or `Accept-Language` asks for it; a link home; 404.
pub fn not_found_page(req: &axum::extract::Request) -> Response {
    let english = wants_english(req.headers());
    let (lang, title, text, home) = if english {
        (
            "en",
            "Page not found",
            "There is no page at this address.",
            "Back to the home page",
        )
    } else {
        (
            "id",
            "Halaman tidak ditemukan",
            "Tidak ada halaman di alamat ini.",
            "Kembali ke beranda",
        )
    };
    let html = format!(
        "<!doctype html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} — warga</title><link rel=\"stylesheet\" href=\"/static/warga.css\"></head>\
         <body><main><section class=\"card\"><h1>{title}</h1><p>{text}</p>\
         <p><a href=\"/\">{home}</a></p></section></main></body></html>\n"
    );
    html_page(StatusCode::NOT_FOUND, html, PagePolicy::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_host_only_and_secure() {
        let value = set_cookie("__Host-warga_sid", "abc", 60);
        assert_eq!(
            value,
            "__Host-warga_sid=abc; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=60"
        );
        assert!(
            set_cookie("warga_sid", "abc", 60)
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
        assert!(
            set_cookie("__Host-x", "a;b", 60)
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; __Host-warga_sid=abc"));
        assert_eq!(cookie(&headers, "__Host-warga_sid"), Some("abc"));
        assert_eq!(cookie(&headers, "b"), None);
    }

    #[test]
    fn csrf_needs_an_equal_non_empty_token() {
        assert!(csrf_matches("token", "token"));
        assert!(!csrf_matches("token", "other"));
        assert!(!csrf_matches("", ""));
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("__Host-form=t1"));
        assert!(double_submit_matches(&headers, "__Host-form", "t1"));
        assert!(!double_submit_matches(&headers, "__Host-form", "t2"));
        assert!(!double_submit_matches(&HeaderMap::new(), "__Host-form", ""));
    }

    #[test]
    fn pages_carry_a_csp_without_script() {
        let response = html_page(
            StatusCode::OK,
            "<p>hai</p>".into(),
            PagePolicy {
                form_origin: Some("https://client.example"),
                referrer: "no-referrer",
                own_scripts: false,
            },
        );
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none';"), "{csp}");
        assert!(csp.contains("form-action 'self' https://client.example"), "{csp}");
        assert!(!csp.contains("script-src"), "{csp}");
        assert_eq!(response.headers()["referrer-policy"], "no-referrer");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        let with_script = html_page(
            StatusCode::OK,
            String::new(),
            PagePolicy {
                own_scripts: true,
                ..PagePolicy::default()
            },
        );
        let csp = with_script.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe"), "{csp}");
    }
}
