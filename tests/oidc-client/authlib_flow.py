"""A real OpenID Connect client that warga did not write (Authlib) against a running warga.

It discovers warga, completes the authorization code flow with PKCE (S256) -- a person's
sign-in at warga's login page is played by a plain HTTP session -- validates the ID token
against the published JWKS, calls a protected API, refreshes (rotation), revokes, and checks
that the revoked tokens are refused afterwards.

Environment: WARGA_URL, WARGA_CA (PEM of warga's certificate), WARGA_CLIENT_ID,
WARGA_REDIRECT_URI, WARGA_USERNAME, WARGA_PASSWORD. Exit status 0 only if every check passed.
"""

import html
import os
import re
import secrets
import sys

import warnings

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
with warnings.catch_warnings():
    # authlib.jose is Authlib's own JOSE module; its successor joserfc comes from the same
    # author. Either is a JOSE implementation warga did not write.
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, jwt

BASE = os.environ["WARGA_URL"].rstrip("/")
CA = os.environ["WARGA_CA"]
CLIENT_ID = os.environ["WARGA_CLIENT_ID"]
REDIRECT_URI = os.environ["WARGA_REDIRECT_URI"]
USERNAME = os.environ["WARGA_USERNAME"]
PASSWORD = os.environ["WARGA_PASSWORD"]

passed, failed = 0, 0


def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def main():
    meta = requests.get(f"{BASE}/.well-known/openid-configuration", verify=CA, timeout=10).json()
    check("discovery names the issuer", meta["issuer"] == BASE, meta.get("issuer"))
    check("discovery offers S256 PKCE", meta["code_challenge_methods_supported"] == ["S256"])

    client = OAuth2Session(
        CLIENT_ID,
        redirect_uri=REDIRECT_URI,
        scope="openid profile roles",
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    client.verify = CA
    # requests prefers REQUESTS_CA_BUNDLE from the environment over a session's own CA.
    client.trust_env = False
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = client.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )

    # The person signs in at warga's page.
    browser = requests.Session()
    browser.verify = CA
    browser.trust_env = False
    page = browser.get(url, timeout=10)
    check("the sign-in page is shown", page.status_code == 200 and "Masuk ke warga" in page.text)
    fields = {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
    }
    fields.update(username=USERNAME, password=PASSWORD)
    signed_in = browser.post(f"{BASE}/oauth2/authorize", data=fields, allow_redirects=False, timeout=30)
    check("sign-in redirects back with a code", signed_in.status_code == 303, signed_in.status_code)
    location = signed_in.headers["location"]

    token = client.fetch_token(
        meta["token_endpoint"], authorization_response=location, code_verifier=verifier, state=state
    )
    check("the code is exchanged for tokens", "access_token" in token and "refresh_token" in token)

    keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], verify=CA, timeout=10).json())
    claims = jwt.decode(
        token["id_token"],
        keys,
        claims_options={
            "iss": {"essential": True, "value": meta["issuer"]},
            "aud": {"essential": True, "value": CLIENT_ID},
            "nonce": {"essential": True, "value": nonce},
        },
    )
    claims.validate()
    check("the ID token verifies against the JWKS", claims["preferred_username"] == USERNAME)

    me = client.get(f"{BASE}/api/v1/identity/me", timeout=10)
    check("a protected API accepts the access token", me.status_code == 200 and me.json()["username"] == USERNAME)

    old_refresh = token["refresh_token"]
    refreshed = client.refresh_token(meta["token_endpoint"])
    check("refresh returns new tokens", refreshed["refresh_token"] != old_refresh)
    me = client.get(f"{BASE}/api/v1/identity/me", timeout=10)
    check("the refreshed access token works", me.status_code == 200)

    access = refreshed["access_token"]
    revoked = client.revoke_token(meta["revocation_endpoint"], token=access, token_type_hint="access_token")
    check("revocation is accepted", revoked.status_code == 200, revoked.status_code)
    after = requests.get(
        f"{BASE}/api/v1/identity/me", headers={"Authorization": f"Bearer {access}"}, verify=CA, timeout=10
    )
    check("the revoked access token is refused", after.status_code == 401, after.status_code)

    client.revoke_token(meta["revocation_endpoint"], token=refreshed["refresh_token"], token_type_hint="refresh_token")
    try:
        client.refresh_token(meta["token_endpoint"], refresh_token=refreshed["refresh_token"])
        check("the revoked refresh token is refused", False, "a refresh succeeded")
    except OAuthError as error:
        check("the revoked refresh token is refused", error.error == "invalid_grant", error.error)


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # a crash is a failure, reported as such
        failed += 1
        print(f"FAIL unexpected error: {error!r}")
    print(f"authlib: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
