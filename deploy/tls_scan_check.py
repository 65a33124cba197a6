#!/usr/bin/env python3
"""Reads an sslyze JSON report (`sslyze --json_out=FILE HOST:PORT`) of warga's HTTPS edge and
fails unless it accepts only TLS 1.2 and 1.3, with forward-secret AEAD cipher suites
(ECDHE with AES-GCM or ChaCha20-Poly1305; TLS 1.3's own suites). Standard library only.

    tls_scan_check.py sslyze.json
"""
import json
import sys

OLD = ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites", "tls_1_1_cipher_suites")
MODERN = ("tls_1_2_cipher_suites", "tls_1_3_cipher_suites")


def accepted(result, name):
    return [c["cipher_suite"]["name"] for c in result[name]["result"]["accepted_cipher_suites"]]


def strong(suite):
    if suite.startswith("TLS_AES_") or suite.startswith("TLS_CHACHA20_"):
        return True  # TLS 1.3: every suite is forward-secret AEAD
    return "_ECDHE_" in suite and ("_GCM_" in suite or "CHACHA20_POLY1305" in suite)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        report = json.load(f)
    scan = report["server_scan_results"][0]
    if scan["scan_status"] != "COMPLETED":
        sys.exit(f"the scan did not complete: {scan.get('connectivity_error_trace')}")
    result = scan["scan_result"]
    old = {name: accepted(result, name) for name in OLD}
    modern = {name: accepted(result, name) for name in MODERN}
    for name, suites in {**old, **modern}.items():
        print(f"{name}: {', '.join(suites) if suites else 'none accepted'}")
    weak = [s for suites in modern.values() for s in suites if not strong(s)]
    if any(old.values()):
        sys.exit("the edge accepts a protocol older than TLS 1.2")
    if weak:
        sys.exit(f"the edge accepts suites without forward secrecy or AEAD: {weak}")
    if not modern["tls_1_3_cipher_suites"]:
        sys.exit("the edge does not offer TLS 1.3")
    print("tls: only TLS 1.2 and 1.3, forward-secret AEAD suites only")


if __name__ == "__main__":
    main()
