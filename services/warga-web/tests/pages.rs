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

    /// Posts a `multipart/form-data` form: text fields, then files as (name, file name, bytes).
    async fn post_multipart(&mut self, path: &str, fields: &[(&str, &str)], files: &[(&str, &str, Vec<u8>)]) -> Page {
        let boundary = "warga-page-test-6f1c2e";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        for (name, file_name, bytes) in files {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let response = self
            .client
            .post(self.url(path))
            .header("cookie", self.cookie_header())
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
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
    assert!(
        weak.body
            .contains(r#"<p class="field-error" id="password-error" role="alert">paling sedikit 10 karakter</p>"#),
        "the refusal is beside its field, in Indonesian: {}",
        weak.body
    );
    assert!(weak.body.contains(r#"aria-describedby="password-error""#));
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
    // Signed up is signed in: through the provider without a second password prompt, to the
    // account page.
    assert_eq!((done.status, done.location.as_deref()), (303, Some("/masuk")));
    let account = browser.follow(done).await;
    assert_eq!(account.status, 200);
    assert!(
        account.body.contains("id=\"account-username\">siti<"),
        "{}",
        account.body
    );
    assert!(account.body.contains("citizen"));

    // The password can be changed at any time; errors sit at their field, in Indonesian.
    let csrf = hidden(&account.body, "csrf");
    let change = |current: &'static str, new: &'static str, confirm: &'static str| {
        [
            ("current_password", current),
            ("new_password", new),
            ("confirm", confirm),
        ]
    };
    let mut form = change("Salah-Sekali-9", "Teh-Manis-Hangat-2", "Teh-Manis-Hangat-2").to_vec();
    form.push(("csrf", &csrf));
    let wrong = browser.post("/akun/sandi", &form).await;
    assert_eq!(wrong.status, 400);
    assert!(
        wrong.body.contains("id=\"current_password-error\"")
            && wrong.body.contains("aria-describedby=\"current_password-error\"")
            && wrong.body.contains("Kata sandi saat ini salah."),
        "{}",
        wrong.body
    );
    let mut form = change(PASSWORD, "Teh-Manis-Hangat-2", "Teh-Manis-Hangat-3").to_vec();
    form.push(("csrf", &csrf));
    assert!(
        browser
            .post("/akun/sandi", &form)
            .await
            .body
            .contains("id=\"confirm-error\"")
    );
    let mut form = change(PASSWORD, "Teh-Manis-Hangat-2", "Teh-Manis-Hangat-2").to_vec();
    form.push(("csrf", &csrf));
    let changed = browser.post("/akun/sandi", &form).await;
    assert_eq!(changed.location.as_deref(), Some("/akun?m=password"));
    assert!(browser.follow(changed).await.body.contains("Kata sandi diganti."));

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
    assert!(created.body.contains("One-time password") && created.body.contains(">budi.pu</td>"));

    // A registry officer is created from the same screen, with the role chosen there; the
    // account can be disabled, enabled and its password reset.
    let registrar = browser
        .post(
            "/admin/petugas",
            &[
                ("csrf", &csrf),
                ("username", "ani.capil"),
                ("display_name", "Ani"),
                ("role", "registry_officer"),
                ("department", ""),
                ("level", "staff"),
            ],
        )
        .await;
    assert_eq!(registrar.status, 200, "{}", registrar.body);
    let row = registrar
        .body
        .split("id=\"officer-ani.capil\"")
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    assert!(row.contains("Registry officer"), "{row}");
    // And a Puskesmas receptionist for the BPJS ledger, with her organisation and facility.
    let member = browser
        .post(
            "/admin/petugas",
            &[
                ("csrf", &csrf),
                ("username", "sari.pkm"),
                ("display_name", "Sari"),
                ("role", "ledger_member"),
                ("department", ""),
                ("level", "staff"),
                ("msp_id", "PuskesmasMSP"),
                ("facility", "P3578010"),
            ],
        )
        .await;
    assert_eq!(member.status, 200, "{}", member.body);
    let member_row = member
        .body
        .split("id=\"officer-sari.pkm\"")
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    assert!(
        member_row.contains("BPJS or facility staff") && member_row.contains("PuskesmasMSP · P3578010"),
        "{member_row}"
    );
    let account = warga_identity::accounts::by_username(app.platform.store.reader(), "sari.pkm")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.facility.as_deref(), Some("P3578010"));
    let refused = browser
        .post(
            "/admin/petugas",
            &[
                ("csrf", &csrf),
                ("username", "tanpa.msp"),
                ("display_name", "Tanpa"),
                ("role", "ledger_member"),
                ("department", ""),
                ("level", "staff"),
            ],
        )
        .await;
    assert_eq!(
        refused.status, 400,
        "a ledger member needs an organisation: {}",
        refused.body
    );
    let id = row
        .split("action=\"/admin/petugas/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let act = |action: &'static str| [("action", action)];
    let mut form = act("disable").to_vec();
    form.push(("csrf", &csrf));
    let disabled = browser.post(&format!("/admin/petugas/{id}"), &form).await;
    assert!(disabled.body.contains("Account disabled"), "{}", disabled.body);
    let mut form = act("enable").to_vec();
    form.push(("csrf", &csrf));
    assert!(
        browser
            .post(&format!("/admin/petugas/{id}"), &form)
            .await
            .body
            .contains("Account enabled again.")
    );
    let mut form = act("reset").to_vec();
    form.push(("csrf", &csrf));
    let reset = browser.post(&format!("/admin/petugas/{id}"), &form).await;
    let password = reset
        .body
        .split("One-time password (shown once, to be changed at sign-in): ")
        .nth(1)
        .unwrap();
    let password = password.split(['<', ' ']).next().unwrap().to_owned();
    let mut ani = Browser::new(&app);
    let start = ani.get("/masuk").await;
    let login = ani.follow(start).await;
    assert!(
        login.body.contains("href=\"/daftar\""),
        "the sign-in page links to sign-up"
    );
    let first = sign_in(&mut ani, "ani.capil", &password).await;
    assert!(
        first.body.contains("id=\"new_password\""),
        "the reset password signs in once, to set a new one: {}",
        first.body
    );

    // Registry desks: added, refused with the field named, removed.
    let desks = browser.get("/admin/meja-dukcapil?lang=id").await;
    assert!(desks.body.contains("id=\"no-desks\""), "{}", desks.body);
    let desk = |phone: &'static str, action: &'static str| {
        [
            ("action", action),
            ("regency", "3171"),
            ("phone", phone),
            ("label", "Meja Jakarta Pusat"),
        ]
    };
    let mut form = desk("+6281234567890", "add").to_vec();
    form.push(("csrf", &csrf));
    let added = browser.post("/admin/meja-dukcapil", &form).await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert!(added.body.contains("Meja ditambahkan.") && added.body.contains(">+6281234567890</td>"));
    let mut form = desk("0812", "add").to_vec();
    form.push(("csrf", &csrf));
    let bad = browser.post("/admin/meja-dukcapil", &form).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("id=\"phone-error\""), "{}", bad.body);
    let mut form = desk("+6281234567890", "remove").to_vec();
    form.push(("csrf", &csrf));
    let removed = browser.post("/admin/meja-dukcapil", &form).await;
    assert_eq!(removed.status, 200);
    assert!(removed.body.contains("Meja dihapus.") && removed.body.contains("id=\"no-desks\""));
}

#[tokio::test]
async fn a_forgotten_password_is_recovered_with_a_code_sent_by_sms() {
    let app = app().await;
    // Rina signs up (and is signed in), then gives a recovery phone.
    let mut rina = Browser::new(&app);
    let form = rina.get("/daftar").await;
    let done = rina
        .post(
            "/daftar",
            &[
                ("csrf", &hidden(&form.body, "csrf")),
                ("username", "rina"),
                ("display_name", "Rina Wati"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let account = rina.follow(done).await;
    let csrf = hidden(&account.body, "csrf");
    let bad = rina.post("/akun/telepon", &[("csrf", &csrf), ("phone", "12345")]).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("id=\"phone-error\""), "{}", bad.body);
    let saved = rina
        .post("/akun/telepon", &[("csrf", &csrf), ("phone", "0812 3456 7890")])
        .await;
    assert_eq!(saved.location.as_deref(), Some("/akun?m=phone"));
    assert!(rina.follow(saved).await.body.contains("value=\"+6281234567890\""));

    // Later, signed out, she has forgotten it.
    let mut stranger = Browser::new(&app);
    let sms_count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM population_sms_outbox")
            .fetch_one(app.db.store.reader())
            .await
            .unwrap()
    };
    let unknown = ask_code(&mut stranger, "tidak-ada").await;
    assert!(
        unknown.body.contains("id=\"forgot-sent\""),
        "the same answer for an unknown user"
    );
    assert_eq!(sms_count().await, 0);
    let asked = ask_code(&mut stranger, "rina").await;
    assert!(asked.body.contains("id=\"forgot-sent\""));
    let body: String = sqlx::query_scalar("SELECT body FROM population_sms_outbox WHERE to_phone = '+6281234567890'")
        .fetch_one(app.db.store.reader())
        .await
        .unwrap();
    let code: String = body.chars().filter(char::is_ascii_digit).take(6).collect();
    assert_eq!(code.len(), 6, "{body}");
    let again = ask_code(&mut stranger, "rina").await;
    assert!(again.body.contains("id=\"forgot-sent\""));
    assert_eq!(sms_count().await, 1, "one code a minute at most");

    let wrong_code = if code == "000000" { "111111" } else { "000000" };
    // Each page sets a fresh form token: the latest one, as a browser would.
    let csrf = hidden(&again.body, "csrf");
    let wrong = stranger
        .post(
            "/lupa-sandi/kode",
            &[
                ("csrf", &csrf),
                ("username", "rina"),
                ("code", wrong_code),
                ("new_password", "Es-Cendol-Segar-7"),
                ("confirm", "Es-Cendol-Segar-7"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert!(
        wrong.body.contains("id=\"code-error\"") && wrong.body.contains("Kode salah"),
        "{}",
        wrong.body
    );
    let csrf = hidden(&wrong.body, "csrf");
    let reset = stranger
        .post(
            "/lupa-sandi/kode",
            &[
                ("csrf", &csrf),
                ("username", "rina"),
                ("code", &code),
                ("new_password", "Es-Cendol-Segar-7"),
                ("confirm", "Es-Cendol-Segar-7"),
            ],
        )
        .await;
    assert_eq!(
        reset.location.as_deref(),
        Some("/?m=password-recovered"),
        "{}",
        reset.body
    );
    let mut later = Browser::new(&app);
    let signed_in = sign_in(&mut later, "rina", "Es-Cendol-Segar-7").await;
    assert!(
        signed_in.body.contains("id=\"account-username\">rina<"),
        "{}",
        signed_in.body
    );
    // The code is used up.
    let csrf = hidden(&reset_form(&mut stranger).await, "csrf");
    let reused = stranger
        .post(
            "/lupa-sandi/kode",
            &[
                ("csrf", &csrf),
                ("username", "rina"),
                ("code", &code),
                ("new_password", "Es-Cendol-Segar-8"),
                ("confirm", "Es-Cendol-Segar-8"),
            ],
        )
        .await;
    assert_eq!(reused.status, 400);
}

async fn reset_form(browser: &mut Browser) -> String {
    browser.get("/lupa-sandi").await.body
}

/// Asks `/lupa-sandi` for a code for `username`.
async fn ask_code(browser: &mut Browser, username: &str) -> Page {
    let form = browser.get("/lupa-sandi").await;
    browser
        .post(
            "/lupa-sandi",
            &[("csrf", &hidden(&form.body, "csrf")), ("username", username)],
        )
        .await
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
            facility: None,
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
    assert_eq!(
        officer.get("/masuk").await.location.as_deref(),
        Some("/penduduk/tautan"),
        "a registry officer lands on the link requests waiting for them"
    );

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
    // A NIK issued in Papua before the 2022 split: today's region beside it, and the address
    // starts there under today's codes.
    let former = officer
        .post(
            "/penduduk/baru",
            &[("csrf", &csrf), ("action", "check"), ("nik", "9102035203950004")],
        )
        .await;
    assert_eq!(former.status, 200, "{}", former.body);
    assert!(
        former.body.contains(
            "Kurulu, Kabupaten Jayawijaya, Papua (sejak 2022: Kurulu, Kabupaten Jayawijaya, Papua Pegunungan)"
        ),
        "{}",
        former.body
    );
    assert!(
        former.body.contains("<option value=\"950102\" selected>"),
        "today's district"
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
            ("village", "3171071006"),
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
    // Every error of the form at once, each at its field.
    let mut two_wrong: Vec<(&str, &str)> = fields("3171075203950004", "", "3/7")
        .into_iter()
        .map(|(k, v)| if k == "occupation" { (k, "") } else { (k, v) })
        .collect();
    two_wrong.push(("csrf", &csrf));
    let refused = officer.post("/penduduk/baru", &two_wrong).await;
    for field in ["full_name", "rt_rw", "occupation"] {
        assert!(
            refused.body.contains(&format!("id=\"{field}-error\""))
                && refused.body.contains(&format!("aria-describedby=\"{field}-error\"")),
            "{field}: {}",
            refused.body
        );
    }
    assert!(refused.body.contains("id=\"form-errors\""));
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

    // Every refused field of the move form at once, each beside its field, in Indonesian.
    let refused = officer
        .post(
            &format!("/penduduk/{id}/pindah"),
            &[
                ("csrf", &csrf),
                ("action", "move"),
                ("address", "Jl. Braga 10"),
                ("rt_rw", "2/4"),
                ("postal_code", "401"),
                ("village", "3273191001"),
                ("province", "32"),
                ("regency", "3273"),
                ("district", "327319"),
            ],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused
            .body
            .contains(r#"id="rt_rw-error" role="alert">harus seperti 001/002<"#),
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains(r#"id="postal_code-error" role="alert">harus 5 angka<"#)
    );
    assert!(refused.body.contains(r#"aria-describedby="postal_code-error""#));
    let moved = officer
        .post(
            &format!("/penduduk/{id}/pindah"),
            &[
                ("csrf", &csrf),
                ("action", "move"),
                ("address", "Jl. Braga 10"),
                ("rt_rw", "002/004"),
                ("village", "3273191001"),
                ("province", "32"),
                ("regency", "3273"),
                ("district", "327319"),
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
                ("village", "3273191001"),
                ("district", "327319"),
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
    let account = citizen.follow(signed_up).await;
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
    assert!(
        requests
            .body
            .contains("<strong class=\"account-name\">Siti Aminah</strong>")
            && !requests.body.contains("name-differs"),
        "the account's name beside the resident's, and they agree: {}",
        requests.body
    );
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
    assert!(!account.body.contains("id=\"own-kk\""), "on no family card yet");
    // The officer makes her a family card from her record; she sees it on her account page.
    let made = officer
        .post("/kk", &[("csrf", &csrf), ("head", &id), ("kk_number", "")])
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let card_path = made.location.clone().unwrap().split('?').next().unwrap().to_owned();
    let card = officer.follow(made).await;
    let number = text_of(&card.body, "kk-number");
    assert!(number.starts_with("327319"), "issued where she lives now: {number}");
    let account = citizen.get("/akun").await;
    assert_eq!(text_of(&account.body, "own-kk"), number);
    assert!(account.body.contains("Kepala Keluarga"));
    // Her baby is registered and put on the card in one step from the card's screen: a
    // refusal shows every field's error beside it and keeps what was typed.
    let newborn = |nik: &'static str, sex: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("nik", nik.to_owned()),
            ("full_name", "Rafi Ananda".to_owned()),
            ("birth_place", "Bandung".to_owned()),
            ("birth_date", "2026-11-20".to_owned()),
            ("sex", sex.to_owned()),
            ("religion", "Islam".to_owned()),
            ("relationship", "anak".to_owned()),
        ]
    };
    let pairs = |fields: &Vec<(&'static str, String)>| -> Vec<(&'static str, String)> { fields.clone() };
    let refused_fields = pairs(&newborn("3273192011269999", ""));
    let refused_fields: Vec<(&str, &str)> = refused_fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = officer.post(&format!("{card_path}/lahir"), &refused_fields).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("id=\"nb-sex-error\"") && refused.body.contains("aria-describedby=\"nb-sex-error\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"Rafi Ananda\""), "what was typed is kept");
    let born_fields = pairs(&newborn("3273192011260001", "male"));
    let born_fields: Vec<(&str, &str)> = born_fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let born = officer.post(&format!("{card_path}/lahir"), &born_fields).await;
    assert_eq!(born.status, 303, "{}", born.body);
    let card = officer.follow(born).await;
    assert!(
        card.body.contains("Bayi baru lahir terdaftar dan masuk KK."),
        "{}",
        card.body
    );
    assert!(card.body.contains("Rafi Ananda") && card.body.contains("3273192011260001"));
    assert!(card.body.contains("Kelahiran"), "joined by birth");
    assert_eq!(
        citizen.get("/penduduk").await.status,
        403,
        "citizens do not search the registry"
    );

    // The statistics count the living residents in Jawa Barat (she and her baby) once the
    // consumer ran.
    common::wait_for("counted", std::time::Duration::from_secs(10), || async {
        let page = Browser::new(&app);
        let mut page = page;
        page.cookies = officer.cookies.clone();
        let stats = page.get("/statistik?provinsi=32").await;
        text_of(&stats.body, "stats-total") == "2" && stats.body.contains("Kota Bandung")
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

/// A camera's photo: a JPEG with a GPS tag in its EXIF.
fn photo_with_gps() -> Vec<u8> {
    let pixels = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([(x * 6) as u8, (y * 8) as u8, 60]));
    let mut plain = Vec::new();
    image::DynamicImage::ImageRgb8(pixels)
        .write_to(&mut std::io::Cursor::new(&mut plain), image::ImageFormat::Jpeg)
        .unwrap();
    let mut app1 = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    app1.extend_from_slice(b"\0\x01\x88\x25\0\x04\0\0\0\x01\0\0\0\x1a\0\0\0\0GPS-LOKASI-RUMAH");
    let mut jpeg = plain[..2].to_vec();
    jpeg.extend_from_slice(&[0xFF, 0xE1]);
    jpeg.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    jpeg.extend_from_slice(&app1);
    jpeg.extend_from_slice(&plain[2..]);
    jpeg
}

#[tokio::test]
async fn a_citizen_reports_with_a_photo_a_department_resolves_and_an_anonymous_reporter_follows_by_receipt() {
    use warga_core::identity::{OfficerLevel, Role};
    let app = app().await;
    // A citizen linked to a registered resident, and an officer of Dinas PU.
    let mut tx = app.platform.store.begin().await.unwrap();
    warga_identity::accounts::create_department(&mut tx, "dinas-pu", "Dinas Pekerjaan Umum", "system")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = app.platform.store.begin().await.unwrap();
    let citizen_id = warga_identity::accounts::create(
        &mut tx,
        warga_identity::accounts::NewAccount {
            username: "siti.warga".into(),
            display_name: "Siti Aminah".into(),
            password: PASSWORD.into(),
            roles: [Role::Citizen].into_iter().collect(),
            ..Default::default()
        },
        "anonymous",
    )
    .await
    .unwrap()
    .id;
    tx.commit().await.unwrap();
    let resident: warga_population::residents::NewResident = serde_json::from_value(serde_json::json!({
        "nik": "3171075203950004", "full_name": "Siti Aminah", "birth_place": "Jakarta", "birth_date": "1995-03-12",
        "sex": "female", "address": "Jl. Kebon Kacang Raya No. 5", "rt_rw": "003/007", "village": "3171071006",
        "district": "317107", "religion": "Islam", "marital_status": "Kawin", "occupation": "Guru"
    }))
    .unwrap();
    warga_population::residents::register(&app.platform, &resident, "user:capil")
        .await
        .unwrap();
    let ask = warga_population::links::LinkAsk {
        nik: "3171075203950004".into(),
        birth_date: "1995-03-12".into(),
    };
    let request = warga_population::links::ask(&app.platform, &citizen_id, "siti.warga", &ask)
        .await
        .unwrap();
    let decision = warga_population::links::LinkDecision {
        approve: true,
        reason: None,
    };
    warga_population::links::decide(&app.platform, &request, &decision, "user:capil")
        .await
        .unwrap();
    warga_identity::create_officer_account(
        &app.platform,
        warga_identity::NewOfficer {
            username: "pu.budi".into(),
            display_name: "Budi (Dinas PU)".into(),
            email: None,
            password: Some(PASSWORD.into()),
            roles: vec![Role::Officer],
            department: Some("dinas-pu".into()),
            level: Some(OfficerLevel::Staff),
            msp_id: None,
            facility: None,
        },
        "system:test",
    )
    .await
    .unwrap();

    let mut citizen = Browser::new(&app);
    sign_in(&mut citizen, "siti.warga", PASSWORD).await;
    let form = citizen.get("/lapor").await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("enctype=\"multipart/form-data\""));
    let csp = form.csp.clone().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(
        !citizen.get("/laporan").await.csp.unwrap().contains("script-src"),
        "no other page runs script"
    );
    let script = citizen.get("/static/lokasi.js").await;
    assert_eq!(script.status, 200);
    assert!(script.body.contains("navigator.geolocation"));
    let csrf = hidden(&form.body, "csrf");
    let fields = |visibility: &'static str, title: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("action", "submit".to_owned()),
            ("category", "jalan-rusak".to_owned()),
            ("title", title.to_owned()),
            (
                "description",
                "Lubang besar di depan pasar, hubungi saya di 081234567890. <script>alert(1)</script>".to_owned(),
            ),
            ("province", "31".to_owned()),
            ("regency", "3171".to_owned()),
            ("district", "317107".to_owned()),
            ("latitude", "-6,1862".to_owned()),
            ("longitude", "106.8063".to_owned()),
            ("visibility", visibility.to_owned()),
        ]
    };
    let as_pairs = |fields: &Vec<(&'static str, String)>| -> Vec<(&'static str, String)> { fields.clone() };

    // A fake photo: the page says which one, and nothing is stored.
    let bad = as_pairs(&fields("public", "Jalan berlubang di Kebon Kacang"));
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = citizen
        .post_multipart(
            "/lapor",
            &bad,
            &[("photos", "foto.jpg", b"<html>bukan foto</html>".to_vec())],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("id=\"photos-error\""), "{}", refused.body);
    assert!(
        refused.body.contains("Jalan berlubang di Kebon Kacang"),
        "what was typed is kept"
    );

    // With a real photo: filed, routed, and shown with its photo.
    let sent = citizen
        .post_multipart("/lapor", &bad, &[("photos", "IMG_0001.JPG", photo_with_gps())])
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let location = sent.location.clone().unwrap();
    let id = location
        .trim_start_matches("/laporan/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let shown = citizen.follow(sent).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains("Laporan terkirim"), "{}", shown.body);
    assert!(shown.body.contains("Dinas Pekerjaan Umum"));
    assert!(shown.body.contains("[nomor telepon dihapus]") || !shown.body.contains("081234567890"));
    assert!(!shown.body.contains("<script>alert(1)"), "text is rendered inert");
    let img = format!("/laporan/{id}/foto/1");
    assert!(shown.body.contains(&img), "{}", shown.body);
    let served = citizen
        .client
        .get(citizen.url(&img))
        .header("cookie", citizen.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(served.headers()["content-type"], "image/jpeg");
    let served = served.bytes().await.unwrap();
    assert!(
        !served.windows(16).any(|w| w == b"GPS-LOKASI-RUMAH"),
        "the photo's metadata is gone"
    );

    // The department's queue has it; the officer verifies, then resolves with a note.
    let mut officer = Browser::new(&app);
    sign_in(&mut officer, "pu.budi", PASSWORD).await;
    let queue = officer.get("/dinas").await;
    assert_eq!(queue.status, 200, "{}", queue.body);
    assert!(queue.body.contains("Jalan berlubang di Kebon Kacang"));
    let report = officer.get(&format!("/laporan/{id}")).await;
    assert!(report.body.contains("id=\"triage\""), "the department may act");
    let officer_csrf = hidden(&report.body, "csrf");
    for (action, note) in [
        ("acknowledge", ""),
        ("start", ""),
        ("resolve", "Lubang sudah ditambal."),
    ] {
        let done = officer
            .post_multipart(
                &format!("/laporan/{id}/tindak"),
                &[("csrf", &officer_csrf), ("action", action), ("note", note)],
                &[],
            )
            .await;
        assert_eq!(done.status, 303, "{action}: {}", done.body);
    }
    let citizen_view = citizen.get(&format!("/laporan/{id}")).await;
    assert!(citizen_view.body.contains("Selesai"));
    assert!(citizen_view.body.contains("Lubang sudah ditambal."));
    assert!(
        !citizen_view.body.contains("id=\"triage\""),
        "the citizen cannot act as the department"
    );

    // The reporter's inbox tells them, through the bus.
    app.settled().await;
    let mine = citizen.get("/laporan").await;
    assert_eq!(mine.status, 200);
    assert!(mine.body.contains("id=\"inbox-unread\""), "{}", mine.body);
    assert!(mine.body.contains(&format!("/laporan/{id}")));

    // Updates by SMS: a wrong number is refused at its field; a right one is kept as +62….
    assert!(
        !mine.body.contains("id=\"email\""),
        "no e-mail field without a mail server"
    );
    let csrf = hidden(&mine.body, "csrf");
    let refused = citizen
        .post(
            "/laporan/kontak",
            &[("csrf", &csrf), ("phone", "021-555"), ("email", "")],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("aria-describedby=\"phone-error\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("bukan nomor ponsel Indonesia"));
    let saved = citizen
        .post(
            "/laporan/kontak",
            &[("csrf", &csrf), ("phone", "0812 3456 7890"), ("email", "")],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let saved = citizen.get("/laporan?kontak=1").await;
    assert!(saved.body.contains("Tersimpan."));
    assert!(saved.body.contains("value=\"+6281234567890\""), "{}", saved.body);

    // Anonymous: the receipt is shown once; anyone holding it follows the report.
    let anonymous = fields("anonymous", "Pungutan liar di jembatan");
    let anonymous: Vec<(&str, &str)> = anonymous.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let receipt_page = citizen.post_multipart("/lapor", &anonymous, &[]).await;
    assert_eq!(receipt_page.status, 201, "{}", receipt_page.body);
    let code = text_of(&receipt_page.body, "receipt-code");
    assert!(code.len() > 40, "{code}");
    let mut stranger = Browser::new(&app);
    let follow = stranger.get("/laporan/tanda-terima").await;
    let follow_csrf = hidden(&follow.body, "csrf");
    let wrong = stranger
        .post(
            "/laporan/tanda-terima",
            &[("csrf", &follow_csrf), ("code", "salah.kode"), ("action", "show")],
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert!(
        wrong.body.contains("kode tanda terima tidak dikenali"),
        "{}",
        wrong.body
    );
    let follow_csrf = hidden(&wrong.body, "csrf");
    let followed = stranger
        .post(
            "/laporan/tanda-terima",
            &[("csrf", &follow_csrf), ("code", &code), ("action", "show")],
        )
        .await;
    assert_eq!(followed.status, 200, "{}", followed.body);
    assert!(followed.body.contains("Pungutan liar di jembatan"));
    let mine = citizen.get("/laporan").await;
    assert!(
        !mine.body.contains("Pungutan liar di jembatan"),
        "an anonymous report is no one's"
    );

    // The public feed lists the public report, not the anonymous one.
    let feed = stranger.get("/laporan/publik").await;
    assert_eq!(feed.status, 200);
    assert!(feed.body.contains("Jalan berlubang di Kebon Kacang"));
    assert!(!feed.body.contains("Pungutan liar"));

    // The department's dashboard: both reports are Dinas PU's; one resolved within its deadlines.
    let dashboard = officer.get("/dasbor").await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    assert_eq!(text_of(&dashboard.body, "dashboard-total"), "2");
    assert_eq!(text_of(&dashboard.body, "dashboard-compliance"), "100%");
    assert!(
        dashboard.body.contains("<svg class=\"chart\""),
        "charts drawn in the page"
    );
    assert!(
        dashboard.body.contains("<polyline points=\""),
        "the departments over time"
    );
    let map = officer.get("/dasbor/peta.svg").await;
    assert_eq!(map.status, 200);
    assert!(map.body.contains("<title>2 laporan</title>"));
    let csv = officer.get("/dasbor/laporan.csv").await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.body.lines().count(), 3);
    assert_eq!(citizen.get("/dasbor").await.status, 403, "citizens see no dashboard");
    let bad = officer.get("/dasbor?dari=kemarin").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("from: tanggal YYYY-MM-DD"));
}

/// An account of a ledger organisation (a member's officer or an auditor), with `PASSWORD`.
async fn ledger_account(
    app: &TestApp,
    username: &str,
    display_name: &str,
    role: warga_core::identity::Role,
    msp_id: &str,
    facility: Option<&str>,
) -> Result<warga_identity::CreatedOfficer, warga_identity::IdentityError> {
    warga_identity::create_officer_account(
        &app.platform,
        warga_identity::NewOfficer {
            username: username.into(),
            display_name: display_name.into(),
            email: None,
            password: Some(PASSWORD.into()),
            roles: vec![role],
            department: None,
            level: None,
            msp_id: Some(msp_id.into()),
            facility: facility.map(str::to_owned),
        },
        "system:test",
    )
    .await
}

/// The BPJS screens on the embedded ledger: a Puskesmas receptionist checks a card by NIK
/// and sees the answer at a glance; an auditor reads the chain and changes nothing; a patient
/// whose account is linked sees their own card and visits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_checks_a_card_and_a_patient_sees_their_own_bpjs_record() {
    const NIK: &str = "3578010101900001";
    const NO_CARD_NIK: &str = "3578010101900002";
    let app = common::spawn_up(Engine::Sqlite, |_| {}).await.unwrap();
    warga_identity::bootstrap(&app.platform).await.unwrap();
    for nik in [NIK, NO_CARD_NIK] {
        let new: warga_population::ktp::NewResident = serde_json::from_value(serde_json::json!({
            "nik": nik, "full_name": "Budi Santoso", "birth_place": "Surabaya", "birth_date": "1990-01-01",
            "sex": "male", "address": "Jl. Mastrip No. 1", "rt_rw": "001/002", "village": "3578011001",
            "district": "357801", "religion": "Islam", "marital_status": "Kawin", "occupation": "Guru"
        }))
        .unwrap();
        warga_population::residents::register(&app.platform, &new, "system")
            .await
            .unwrap();
    }
    ledger_account(
        &app,
        "resepsionis.ani",
        "Ani (Puskesmas)",
        warga_core::identity::Role::LedgerMember,
        "PuskesmasMSP",
        Some("P3578010"),
    )
    .await
    .unwrap();
    let mut tx = app.platform.store.begin().await.unwrap();
    let citizen = warga_identity::accounts::create(
        &mut tx,
        warga_identity::accounts::NewAccount {
            username: "budi.warga".into(),
            display_name: "Budi Santoso".into(),
            password: PASSWORD.into(),
            roles: [warga_core::identity::Role::Citizen].into_iter().collect(),
            ..Default::default()
        },
        "anonymous",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let ask = warga_population::links::LinkAsk {
        nik: NIK.into(),
        birth_date: "1990-01-01".into(),
    };
    let request = warga_population::links::ask(&app.platform, &citizen.id, "budi.warga", &ask)
        .await
        .unwrap();
    let approve = warga_population::links::LinkDecision {
        approve: true,
        reason: None,
    };
    warga_population::links::decide(&app.platform, &request, &approve, "user:registrar")
        .await
        .unwrap();

    ledger_account(
        &app,
        "bpjs.sari",
        "Sari (BPJS)",
        warga_core::identity::Role::LedgerMember,
        "BPJSMSP",
        None,
    )
    .await
    .unwrap();

    // A BPJS officer issues the card on the screen; the registry vouches for its holder.
    let mut officer = Browser::new(&app);
    sign_in(&mut officer, "bpjs.sari", PASSWORD).await;
    let counter = officer.get("/bpjs").await;
    assert!(counter.body.contains("id=\"issue-nik\""), "{}", counter.body);
    assert!(!counter.body.contains("id=\"visit-nik\""), "BPJS records no visits");
    let csrf = hidden(&counter.body, "csrf");
    let unknown = "3578010101900099";
    let refused = officer
        .post(
            "/bpjs/kartu",
            &[
                ("csrf", &csrf),
                ("nik", unknown),
                ("class", "2"),
                ("valid_until", "2030-12-31"),
            ],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("aria-describedby=\"issue-nik-error\""),
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains("kartu BPJS hanya diterbitkan untuk penduduk terdaftar"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains(&format!("value=\"{unknown}\"")),
        "the NIK typed is kept"
    );
    let issued = officer
        .post(
            "/bpjs/kartu",
            &[
                ("csrf", &csrf),
                ("nik", NIK),
                ("class", "2"),
                ("valid_until", "2030-12-31"),
            ],
        )
        .await;
    assert_eq!(issued.status, 303, "{}", issued.body);
    let shown = officer.follow(issued).await;
    assert!(shown.body.contains("Kartu diterbitkan"), "{}", shown.body);
    assert_eq!(text_of(&shown.body, "card-status"), "AKTIF");
    // Suspended, then a reactivation in the past refused above the form, then reactivated.
    let suspended = officer
        .post(
            "/bpjs/status",
            &[
                ("csrf", &csrf),
                ("nik", NIK),
                ("action", "suspend"),
                ("value", "iuran menunggak"),
            ],
        )
        .await;
    assert_eq!(suspended.status, 303, "{}", suspended.body);
    let shown = officer.follow(suspended).await;
    assert_eq!(text_of(&shown.body, "card-status"), "DITANGGUHKAN");
    assert!(shown.body.contains("value=\"reactivate\""), "{}", shown.body);
    let past = officer
        .post(
            "/bpjs/status",
            &[
                ("csrf", &csrf),
                ("nik", NIK),
                ("action", "reactivate"),
                ("value", "2020-01-01"),
            ],
        )
        .await;
    assert_eq!(past.status, 400, "{}", past.body);
    assert!(past.body.contains("id=\"status-form-error\""), "{}", past.body);
    let reactivated = officer
        .post(
            "/bpjs/status",
            &[
                ("csrf", &csrf),
                ("nik", NIK),
                ("action", "reactivate"),
                ("value", "2030-12-31"),
            ],
        )
        .await;
    assert_eq!(reactivated.status, 303, "{}", reactivated.body);
    assert_eq!(text_of(&officer.follow(reactivated).await.body, "card-status"), "AKTIF");

    // The receptionist: the menu leads to the check; the answer is one line.
    let mut browser = Browser::new(&app);
    let home = sign_in(&mut browser, "resepsionis.ani", PASSWORD).await;
    assert!(home.body.contains("href=\"/bpjs\""), "{}", home.body);
    let form = browser.get("/bpjs").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("Cek kartu BPJS"));
    let answer = browser.get(&format!("/bpjs?nik={NIK}")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(text_of(&answer.body, "card-status"), "AKTIF");
    assert_eq!(text_of(&answer.body, "card-class"), "2");
    assert_eq!(text_of(&answer.body, "card-valid"), "2030-12-31");
    let none = browser.get(&format!("/bpjs?nik={NO_CARD_NIK}")).await;
    assert_eq!(text_of(&none.body, "card-status"), "TIDAK ADA KARTU untuk NIK ini");
    let bad = browser.get("/bpjs?nik=12345").await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body
            .contains("aria-invalid=\"true\" aria-describedby=\"nik-error\""),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("NIK terdiri atas 16 angka"), "{}", bad.body);
    assert_eq!(browser.get("/bpjs/saya").await.status, 403);
    let csrf = hidden(&form.body, "csrf");
    let wrong = browser
        .post("/bpjs/kunjungan", &[("csrf", &csrf), ("nik", NIK), ("diagnosis", "x")])
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(wrong.body.contains("id=\"visit-form-error\""), "{}", wrong.body);
    assert!(wrong.body.contains("ICD-10"), "{}", wrong.body);
    let recorded = browser
        .post(
            "/bpjs/kunjungan",
            &[
                ("csrf", &csrf),
                ("nik", NIK),
                ("diagnosis", "j06.9"),
                ("notes", "sesak napas ringan"),
            ],
        )
        .await;
    assert_eq!(recorded.status, 303, "{}", recorded.body);
    let recorded = browser.follow(recorded).await;
    assert!(recorded.body.contains("Kunjungan tercatat"), "{}", recorded.body);
    let visit_id = text_of(&recorded.body, "notice-id");
    assert!(visit_id.starts_with("V-"), "{visit_id}");

    // The facility claims the visit; BPJS approves it within the tariff of its class.
    let claimed = browser
        .post(
            "/bpjs/klaim",
            &[
                ("csrf", &csrf),
                ("visit_id", &visit_id),
                ("amount", "2.000.000"),
                ("class", "I"),
            ],
        )
        .await;
    assert_eq!(claimed.status, 303, "{}", claimed.body);
    let claim_id = text_of(&browser.follow(claimed).await.body, "notice-id");
    let queue = officer.get("/bpjs").await;
    assert!(queue.body.contains(&claim_id), "{}", queue.body);
    assert!(
        queue.body.contains("value=\"1500000\""),
        "the suggestion stays within the tariff"
    );
    let decide = |value: &'static str| {
        let path = format!("/bpjs/klaim/{claim_id}");
        let csrf = hidden(&queue.body, "csrf");
        (path, csrf, value)
    };
    let (path, csrf, value) = decide("1600000");
    let over = officer
        .post(&path, &[("csrf", &csrf), ("decision", "approve"), ("value", value)])
        .await;
    assert_eq!(over.status, 400, "{}", over.body);
    assert!(over.body.contains("id=\"process-form-error\""), "{}", over.body);
    let (path, csrf, value) = decide("1500000");
    let approved = officer
        .post(&path, &[("csrf", &csrf), ("decision", "approve"), ("value", value)])
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    let after = officer.follow(approved).await;
    assert!(after.body.contains("Klaim diproses"), "{}", after.body);
    assert!(after.body.contains("Tidak ada klaim yang menunggu."), "{}", after.body);

    // A referral to the hospital, approved there.
    ledger_account(
        &app,
        "rs.budi",
        "Budi (RS)",
        warga_core::identity::Role::LedgerMember,
        "RumahSakitMSP",
        Some("R3578001"),
    )
    .await
    .unwrap();
    let csrf = hidden(&browser.get("/bpjs").await.body, "csrf");
    let referred = browser
        .post(
            "/bpjs/rujukan",
            &[
                ("csrf", &csrf),
                ("nik", NIK),
                ("to_facility", "r3578001"),
                ("reason", "apendisitis"),
            ],
        )
        .await;
    assert_eq!(referred.status, 303, "{}", referred.body);
    let referral_id = text_of(&browser.follow(referred).await.body, "notice-id");
    let mut hospital = Browser::new(&app);
    sign_in(&mut hospital, "rs.budi", PASSWORD).await;
    let incoming = hospital.get("/bpjs").await;
    assert!(incoming.body.contains(&referral_id), "{}", incoming.body);
    let approved = hospital
        .post(
            &format!("/bpjs/rujukan/{referral_id}"),
            &[("csrf", &hidden(&incoming.body, "csrf"))],
        )
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    assert!(hospital.follow(approved).await.body.contains("Rujukan disetujui"));

    // The auditor's view: the chain, a card's history, a block, and "verify this ledger".
    let explorer = officer.get("/bpjs/ledger").await;
    assert_eq!(explorer.status, 200, "{}", explorer.body);
    let height: u64 = text_of(&explorer.body, "height").parse().unwrap();
    assert!(height > 5, "{height}");
    let history = officer.get(&format!("/bpjs/ledger?jenis=card&kunci={NIK}")).await;
    let start = history.body.find("id=\"history\"").expect("the card's history");
    let rows = history.body[start..]
        .split("</table>")
        .next()
        .unwrap()
        .matches("<tr>")
        .count();
    assert_eq!(rows, 1 + 3, "issued, suspended, reactivated: {}", history.body);
    let first = officer.get("/bpjs/ledger/blok/1").await;
    assert_eq!(first.status, 200);
    assert!(
        first.body.contains("id=\"transactions\"") && first.body.contains("VALID"),
        "{}",
        first.body
    );
    assert_eq!(officer.get("/bpjs/ledger/blok/99999").await.status, 404);
    // The visit's block shows its private data as the chain holds it: the collection and a
    // hash, never the notes.
    let mut private_shown = false;
    for n in 1..height {
        let block = officer.get(&format!("/bpjs/ledger/blok/{n}")).await;
        assert!(!block.body.contains("sesak napas"), "{}", block.body);
        private_shown |= block.body.contains("clinical-puskesmas: ");
    }
    assert!(private_shown, "a block shows the visit's private data hash");
    let verified = officer
        .post("/bpjs/ledger/verifikasi", &[("csrf", &hidden(&explorer.body, "csrf"))])
        .await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    assert!(
        text_of(&verified.body, "verified").starts_with("Ledger terverifikasi"),
        "{}",
        verified.body
    );

    // An auditor of BPJS: the explorer and "verify this ledger", no counter, no forms.
    let auditor_with_facility = ledger_account(
        &app,
        "auditor.bpjs",
        "Auditor BPJS",
        warga_core::identity::Role::LedgerAuditor,
        "BPJSMSP",
        Some("P3578010"),
    )
    .await;
    assert!(auditor_with_facility.is_err(), "an auditor acts for no facility");
    ledger_account(
        &app,
        "auditor.bpjs",
        "Auditor BPJS",
        warga_core::identity::Role::LedgerAuditor,
        "BPJSMSP",
        None,
    )
    .await
    .unwrap();
    let mut auditor = Browser::new(&app);
    sign_in(&mut auditor, "auditor.bpjs", PASSWORD).await;
    let redirected = auditor.get("/bpjs").await;
    assert_eq!(redirected.location.as_deref(), Some("/bpjs/ledger"));
    let audited = auditor.get("/bpjs/ledger").await;
    assert_eq!(audited.status, 200, "{}", audited.body);
    assert_eq!(text_of(&audited.body, "height").parse::<u64>().unwrap(), height);
    assert!(
        !audited.body.contains("href=\"/bpjs\""),
        "no counter in the menu: {}",
        audited.body
    );
    let verified = auditor
        .post("/bpjs/ledger/verifikasi", &[("csrf", &hidden(&audited.body, "csrf"))])
        .await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    assert!(text_of(&verified.body, "verified").starts_with("Ledger terverifikasi"));
    let refused = auditor
        .post(
            "/bpjs/kartu",
            &[
                ("csrf", &hidden(&audited.body, "csrf")),
                ("nik", NIK),
                ("class", "1"),
                ("valid_until", "2031-12-31"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    // The patient: their own card and visit.
    let mut patient = Browser::new(&app);
    sign_in(&mut patient, "budi.warga", PASSWORD).await;
    let redirected = patient.get("/bpjs").await;
    assert_eq!(redirected.location.as_deref(), Some("/bpjs/saya"));
    let mine = patient.get("/bpjs/saya").await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(text_of(&mine.body, "card-status"), "AKTIF");
    let start = mine.body.find("id=\"visits\"").expect("a table of visits");
    let visits = &mine.body[start..start + mine.body[start..].find("</table>").unwrap()];
    assert!(visits.contains("J06.9") && visits.contains("P3578010"), "{visits}");
    let start = mine.body.find("id=\"referrals\"").expect("a table of referrals");
    let referrals = &mine.body[start..start + mine.body[start..].find("</table>").unwrap()];
    assert!(
        referrals.contains("R3578001") && referrals.contains("disetujui"),
        "{referrals}"
    );
}
