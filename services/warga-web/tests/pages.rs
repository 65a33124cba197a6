//! The web UI through HTTPS as a browser without script sees it: sign-up, single sign-on
//! through the provider, the account page, roles, CSRF, and sign-out.

use warga_testkit as common;

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

async fn account_with(app: &TestApp, username: &str, role: warga_core::identity::Role) {
    warga_identity::create_officer_account(
        &app.platform,
        warga_identity::NewOfficer {
            username: username.into(),
            display_name: format!("{username} (uji)"),
            email: None,
            password: Some(PASSWORD.into()),
            roles: vec![role],
            department: None,
            level: None,
            msp_id: None,
        },
        "system:test",
    )
    .await
    .unwrap();
}

fn text_of(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no #{id} in {html}")) + marker.len();
    html[start..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_registry_officer_registers_finds_moves_and_links_a_resident() {
    use warga_core::identity::Role;
    let app = app().await;
    account_with(&app, "dukcapil.ani", Role::RegistryOfficer).await;
    let mut officer = Browser::new(&app);
    sign_in(&mut officer, "dukcapil.ani", PASSWORD).await;

    let form = officer.get("/penduduk/baru").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = hidden(&form.body, "csrf");
    // "Periksa NIK" validates inline and fills what the NIK determines.
    let checked = officer
        .post(
            "/penduduk/baru",
            &[("csrf", &csrf), ("action", "check"), ("nik", "3171075203950004")],
        )
        .await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert!(checked.body.contains("NIK sah: Perempuan"), "{}", checked.body);
    assert!(checked.body.contains("value=\"1995-03-12\""));
    assert!(
        checked.body.contains("<option value=\"317107\" selected>"),
        "district filled from the NIK"
    );
    let wrong = officer
        .post(
            "/penduduk/baru",
            &[("csrf", &csrf), ("action", "check"), ("nik", "9971075203950004")],
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.body.contains("id=\"nik-error\""), "the error sits at the field");
    // Region pickers cascade through the server.
    let picked = officer
        .post(
            "/penduduk/baru",
            &[
                ("csrf", &csrf),
                ("action", "pick"),
                ("province", "32"),
                ("full_name", "Siti"),
            ],
        )
        .await;
    assert!(
        picked
            .body
            .contains("<option value=\"3273\">Kota Bandung — 3273</option>")
    );
    assert!(picked.body.contains("value=\"Siti\""), "typed values are kept");

    let fields = |nik: &'static str, name: &'static str, rt_rw: &'static str| {
        vec![
            ("action", "register"),
            ("nik", nik),
            ("full_name", name),
            ("birth_place", "Jakarta"),
            ("birth_date", "1995-03-12"),
            ("sex", "female"),
            ("address", "Jl. Kebon Kacang Raya No. 5"),
            ("rt_rw", rt_rw),
            ("village", "Kebon Kacang"),
            ("province", "31"),
            ("regency", "3171"),
            ("district", "317107"),
            ("religion", "Islam"),
            ("marital_status", "Kawin"),
            ("occupation", "Guru"),
        ]
    };
    let mut bad = fields("3171075203950004", "Siti Aminah", "3/7");
    bad.push(("csrf", &csrf));
    let refused = officer.post("/penduduk/baru", &bad).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("id=\"rt_rw-error\""));
    let mut good = fields("3171075203950004", "Siti Aminah", "003/007");
    good.push(("csrf", &csrf));
    let registered = officer.post("/penduduk/baru", &good).await;
    assert_eq!(registered.status, 303, "{}", registered.body);
    let record = officer.follow(registered).await;
    assert_eq!(text_of(&record.body, "resident-nik"), "3171075203950004");
    assert!(record.body.contains("Penduduk terdaftar."));
    let again = officer.post("/penduduk/baru", &good).await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("id=\"nik-error\""));

    let found = officer.get("/penduduk?nama=siti+ami&wilayah=31").await;
    assert!(found.body.contains(">Siti Aminah</a>"), "{}", found.body);
    let results = found.body.split("id=\"results\"").nth(1).unwrap();
    let id = results
        .split("href=\"/penduduk/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        officer
            .get("/penduduk?nama=zzz")
            .await
            .body
            .contains("id=\"no-results\"")
    );
    let by_nik = officer
        .post("/penduduk/nik", &[("csrf", &csrf), ("nik", "3171075203950004")])
        .await;
    assert_eq!(
        by_nik.location.as_deref(),
        Some(format!("/penduduk/{id}").as_str()),
        "{} {}",
        by_nik.status,
        by_nik.body
    );
    let unknown = officer
        .post("/penduduk/nik", &[("csrf", &csrf), ("nik", "3171075203950009")])
        .await;
    assert_eq!(unknown.status, 404);

    let moved = officer
        .post(
            &format!("/penduduk/{id}/pindah"),
            &[
                ("csrf", &csrf),
                ("action", "move"),
                ("address", "Jl. Braga 10"),
                ("rt_rw", "002/004"),
                ("village", "Braga"),
                ("province", "32"),
                ("regency", "3273"),
                ("district", "327301"),
            ],
        )
        .await;
    assert_eq!(moved.status, 303, "{id}: {}", moved.body);
    let nobody = officer
        .post(
            "/penduduk/0190a0a0-0000-7000-8000-000000000000/pindah",
            &[
                ("csrf", &csrf),
                ("action", "move"),
                ("address", "x"),
                ("rt_rw", "001/001"),
                ("village", "x"),
                ("district", "327301"),
            ],
        )
        .await;
    assert_eq!(nobody.status, 404, "{}", nobody.body);
    let record = officer.follow(moved).await;
    assert!(text_of(&record.body, "resident-place").contains("Kota Bandung"));
    assert!(record.body.contains("id=\"history\"") && record.body.contains("Jl. Kebon Kacang Raya No. 5"));

    // A citizen asks for the link; the officer approves it; the citizen sees their record.
    let mut citizen = Browser::new(&app);
    let form = citizen.get("/daftar").await;
    let signed_up = citizen
        .post(
            "/daftar",
            &[
                ("csrf", &hidden(&form.body, "csrf")),
                ("username", "siti.aminah"),
                ("display_name", "Siti Aminah"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(signed_up.status, 303);
    let account = sign_in(&mut citizen, "siti.aminah", PASSWORD).await;
    assert!(account.body.contains("id=\"citizen-link\""));
    let asked = citizen
        .post(
            "/akun/tautan",
            &[
                ("csrf", &hidden(&account.body, "csrf")),
                ("nik", "3171075203950004"),
                ("birth_date", "1995-03-12"),
            ],
        )
        .await;
    let account = citizen.follow(asked).await;
    assert!(text_of(&account.body, "link-status").contains("menunggu"));
    let requests = officer.get("/penduduk/tautan").await;
    assert!(requests.body.contains("siti.aminah") && requests.body.contains(">Siti Aminah</a>"));
    let request = requests
        .body
        .split("action=\"/penduduk/tautan/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let approved = officer
        .post(
            &format!("/penduduk/tautan/{request}"),
            &[("csrf", &csrf), ("decision", "approve"), ("reason", "")],
        )
        .await;
    assert!(approved.body.contains("Akun ditautkan."), "{}", approved.body);
    let account = citizen.get("/akun").await;
    assert!(text_of(&account.body, "link-status").contains("tertaut"));
    assert!(account.body.contains("3171075203950004"));
    assert_eq!(
        citizen.get("/penduduk").await.status,
        403,
        "citizens do not search the registry"
    );

    // The statistics count the living resident in Jawa Barat once the consumer ran.
    common::wait_for("counted", std::time::Duration::from_secs(10), || async {
        let page = Browser::new(&app);
        let mut page = page;
        page.cookies = officer.cookies.clone();
        let stats = page.get("/statistik?provinsi=32").await;
        text_of(&stats.body, "stats-total") == "1" && stats.body.contains("Kota Bandung")
    })
    .await;
    let stats = officer.get("/statistik").await;
    assert!(stats.body.contains("<svg class=\"chart\""));
    assert!(stats.body.contains("href=\"/statistik?provinsi=32\""));

    let died = officer
        .post(&format!("/penduduk/{id}/meninggal"), &[("csrf", &csrf)])
        .await;
    assert_eq!(died.status, 400, "the confirmation is required");
    let died = officer
        .post(
            &format!("/penduduk/{id}/meninggal"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    let record = officer.follow(died).await;
    assert_eq!(text_of(&record.body, "resident-status"), "Meninggal");
    assert!(!record.body.contains("/pindah"), "no moves after death");
}
