//! The web UI through HTTPS as a browser without script sees it: sign-up, single sign-on
//! through the provider, the account page, roles, CSRF, and sign-out.

mod common;

use std::collections::HashMap;

use axum::Router;
use common::{Engine, TestApp, client_builder_trusting, spawn_app_with};

const PASSWORD: &str = "Kopi-Tubruk-Pagi-2026";

/// A browser: no redirects followed, cookies kept by hand.
struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    csp: Option<String>,
    body: String,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        let client = client_builder_trusting(&app.dir.path().join("tls/cert.pem"))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            client,
            base: app.url.clone(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn absorb(&mut self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let csp = response
            .headers()
            .get("content-security-policy")
            .map(|l| l.to_str().unwrap().to_owned());
        Page {
            status,
            location,
            csp,
            body: response.text().await.unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(self.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.absorb(response).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(self.url(path))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.absorb(response).await
    }

    /// Follows redirects from `page` the way a browser would, returning the final page.
    async fn follow(&mut self, mut page: Page) -> Page {
        while let Some(location) = page.location.take().filter(|_| page.status == 303) {
            page = self.get(&location).await;
        }
        page
    }
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

async fn sign_in(browser: &mut Browser, username: &str, password: &str) -> Page {
    let start = browser.get("/masuk").await;
    assert_eq!(start.status, 303);
    let login = browser.follow(start).await;
    assert!(
        login.body.contains("Masuk ke warga") || login.body.contains("Sign in to warga"),
        "{}",
        login.body
    );
    let mut form: Vec<(String, String)> = [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "lang",
        "csrf",
    ]
    .iter()
    .map(|name| (name.to_string(), hidden(&login.body, name)))
    .collect();
    form.push(("username".into(), username.into()));
    form.push(("password".into(), password.into()));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let submitted = browser.post("/oauth2/authorize", &pairs).await;
    browser.follow(submitted).await
}

async fn app() -> TestApp {
    let app = spawn_app_with(Engine::Sqlite, Router::new(), vec![], |config| {
        config.identity.admin_password = Some(warga_config::Secret::new("Rahasia-Kepala-2026".into()));
    })
    .await
    .unwrap();
    warga_identity::bootstrap(&app.platform).await.unwrap();
    app
}

#[tokio::test]
async fn a_resident_signs_up_signs_in_sees_their_account_and_signs_out() {
    let app = app().await;
    let mut browser = Browser::new(&app);

    let home = browser.get("/").await;
    assert_eq!(home.status, 200);
    let csp = home.csp.unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "no script at all: {csp}"
    );
    assert!(home.body.contains("<html lang=\"id\">") && home.body.contains("Selamat datang"));

    let form = browser.get("/daftar").await;
    assert!(!hidden(&form.body, "csrf").is_empty(), "the form carries a CSRF token");
    let forged = browser
        .post(
            "/daftar",
            &[
                ("csrf", "forged"),
                ("username", "siti"),
                ("display_name", "Siti"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, 400, "a forged form is refused");
    // Every form page sets a fresh token: use the latest, as a browser would.
    let csrf = hidden(&forged.body, "csrf");
    let weak = browser
        .post(
            "/daftar",
            &[
                ("csrf", &csrf),
                ("username", "siti"),
                ("display_name", "Siti Aminah"),
                ("password", "pendek"),
            ],
        )
        .await;
    assert_eq!(weak.status, 400);
    assert!(weak.body.contains("password:"), "the field is named");
    let csrf = hidden(&weak.body, "csrf");
    let done = browser
        .post(
            "/daftar",
            &[
                ("csrf", &csrf),
                ("username", "siti"),
                ("display_name", "Siti Aminah"),
                ("email", ""),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!((done.status, done.location.as_deref()), (303, Some("/?m=registered")));

    let account = sign_in(&mut browser, "siti", PASSWORD).await;
    assert_eq!(account.status, 200);
    assert!(
        account.body.contains("id=\"account-username\">siti<"),
        "{}",
        account.body
    );
    assert!(account.body.contains("citizen"));

    // A citizen is refused the administration pages, with a page rather than JSON.
    let refused = browser.get("/admin/departemen").await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("hanya untuk administrator"));

    // Signing out needs the session's CSRF token, and ends the provider's session too.
    let forged = browser.post("/keluar", &[("csrf", "forged")]).await;
    assert_eq!(forged.status, 400);
    let csrf = hidden(&account.body, "csrf");
    let out = browser.post("/keluar", &[("csrf", &csrf)]).await;
    assert!(out.location.as_deref().unwrap().starts_with("/oauth2/logout?"));
    let home = browser.follow(out).await;
    assert!(home.body.contains("Anda telah keluar"), "{}", home.body);
    let again = browser.get("/akun").await;
    assert_eq!(again.location.as_deref(), Some("/masuk"));
    let login = browser.follow(again).await;
    assert!(
        login.body.contains("Masuk ke warga"),
        "the provider asks for the password again"
    );
}

#[tokio::test]
async fn an_administrator_creates_a_department_and_an_officer_in_english() {
    let app = app().await;
    let mut browser = Browser::new(&app);
    assert_eq!(
        browser.get("/admin/departemen").await.location.as_deref(),
        Some("/masuk")
    );
    let english = browser.get("/?lang=en").await;
    assert!(english.body.contains("Welcome to warga"));
    sign_in(&mut browser, "admin", "Rahasia-Kepala-2026").await;

    let page = browser.get("/admin/departemen").await;
    assert!(
        page.body.contains("New department"),
        "the language choice is remembered"
    );
    let csrf = hidden(&page.body, "csrf");
    let created = browser
        .post(
            "/admin/departemen",
            &[("csrf", &csrf), ("id", "dinas-pu"), ("name", "Dinas PU")],
        )
        .await;
    assert_eq!(created.status, 200);
    assert!(created.body.contains("Department created") && created.body.contains("<td>dinas-pu</td>"));
    let twice = browser
        .post(
            "/admin/departemen",
            &[("csrf", &csrf), ("id", "dinas-pu"), ("name", "Dinas PU")],
        )
        .await;
    assert_eq!(twice.status, 409);

    let created = browser
        .post(
            "/admin/petugas",
            &[
                ("csrf", &csrf),
                ("username", "budi.pu"),
                ("display_name", "Budi"),
                ("department", "dinas-pu"),
                ("level", "head"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.body.contains("One-time password") && created.body.contains("<td>budi.pu</td>"));
}
