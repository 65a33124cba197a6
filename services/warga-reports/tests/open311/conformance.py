#!/usr/bin/env python3
"""A GeoReport v2 client, standard library only, that checks an endpoint against the
Open311 GeoReport v2 specification (https://wiki.open311.org/GeoReport_v2): the service
list and definitions, filing a request, reading it back by id, by list and by token, in
JSON and XML, and the error format.

It knows nothing of the server beyond the specification and its arguments:

    conformance.py --base https://host/open311/v2 --cafile cert.pem --api-key TOKEN \
        --lat -6.18 --long 106.80 --attribute district=317107

Exits 0 when every check passes, 1 with the failed check on stderr otherwise.
"""

import argparse
import datetime
import json
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

SERVICE_TYPES = {"realtime", "batch", "blackbox"}
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
STATUSES = {"open", "closed"}


class Failed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failed(what)
    CHECKS.append(what)


CHECKS = []


class Client:
    def __init__(self, base, cafile):
        self.base = base.rstrip("/")
        self.context = ssl.create_default_context(cafile=cafile)

    def call(self, method, path, query=None, form=None):
        url = f"{self.base}/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=30) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Content-Type", ""), error.read()

    def json(self, method, path, query=None, form=None):
        status, content_type, body = self.call(method, path, query, form)
        check("json" in content_type, f"{method} {path}: a JSON content type, got {content_type!r}")
        return status, json.loads(body)

    def xml(self, method, path, query=None, form=None):
        status, content_type, body = self.call(method, path, query, form)
        check("xml" in content_type, f"{method} {path}: an XML content type, got {content_type!r}")
        return status, ET.fromstring(body)


def iso8601(text, what):
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Failed(f"{what}: {text!r} is not ISO 8601")
    check(parsed.tzinfo is not None, f"{what}: carries a time zone")
    return parsed


def check_error_list(status, body, expected_status, what):
    check(status == expected_status, f"{what}: status {expected_status}, got {status}")
    check(isinstance(body, list) and body, f"{what}: a list of errors")
    for error in body:
        check(set(error) >= {"code", "description"}, f"{what}: each error has code and description")
        check(int(error["code"]) == expected_status, f"{what}: the error's code is the status")


def run(args):
    client = Client(args.base, args.cafile)
    attributes = dict(item.split("=", 1) for item in args.attribute)

    # Service list.
    status, services = client.json("GET", "services.json")
    check(status == 200, "GET services.json: 200")
    check(isinstance(services, list) and services, "services.json: a non-empty list")
    for service in services:
        for field in ("service_code", "service_name", "description", "metadata", "type", "keywords", "group"):
            check(field in service, f"service {service.get('service_code')}: has {field}")
        check(isinstance(service["metadata"], bool), "service.metadata is a boolean")
        check(service["type"] in SERVICE_TYPES, "service.type is realtime, batch or blackbox")
    status, root = client.xml("GET", "services.xml")
    check(status == 200 and root.tag == "services", "services.xml: a <services> root")
    codes = [s.findtext("service_code") for s in root.findall("service")]
    check(codes == [s["service_code"] for s in services], "services.xml lists what services.json lists")

    # Service definition.
    service = next((s for s in services if s["service_code"] == args.service), services[0])
    code = service["service_code"]
    required = []
    if service["metadata"]:
        status, definition = client.json("GET", f"services/{code}.json")
        check(status == 200 and definition.get("service_code") == code, "a service definition for its code")
        for attribute in definition["attributes"]:
            for field in ("variable", "code", "datatype", "required", "datatype_description", "order", "description"):
                check(field in attribute, f"attribute {attribute.get('code')}: has {field}")
            check(attribute["datatype"] in DATATYPES, f"attribute {attribute['code']}: a known datatype")
            if attribute["datatype"].endswith("valuelist"):
                check(all({"key", "name"} <= set(v) for v in attribute["values"]), "list values have key and name")
            if attribute["required"]:
                required.append(attribute["code"])
        status, root = client.xml("GET", f"services/{code}.xml")
        check(root.tag == "service_definition", "services/{code}.xml: a <service_definition> root")
        check(
            [a.findtext("code") for a in root.find("attributes").findall("attribute")]
            == [a["code"] for a in definition["attributes"]],
            "the XML definition lists the same attributes",
        )
    for name in required:
        check(name in attributes, f"the required attribute {name} was given (--attribute)")

    status, body = client.json("GET", "services/no-such-service.json")
    check_error_list(status, body, 404, "an unknown service")

    # Filing a request.
    form = {
        "service_code": code,
        "lat": args.lat,
        "long": args.long,
        "description": "Lubang besar di jalan depan pasar, sudah dua minggu. Berbahaya bagi pengendara motor.",
        "email": "pelapor@example.org",
        "first_name": "Nama",
        "phone": "081234567890",
    }
    for name, value in attributes.items():
        form[f"attribute[{name}]"] = value
    status, body = client.json("POST", "requests.json", form=form)
    check_error_list(status, body, 403, "filing without an api_key")
    form["api_key"] = args.api_key
    status, body = client.json("POST", "requests.json", form=form)
    check(status in (200, 201), f"POST requests.json: created, got {status} {body}")
    check(isinstance(body, list) and len(body) == 1, "POST requests.json: one entry")
    created = body[0]
    check("service_request_id" in created or "token" in created, "the answer has an id or a token")
    request_id = created.get("service_request_id")
    if request_id is None:
        status, tokens = client.json("GET", f"tokens/{created['token']}.json")
        request_id = tokens[0]["service_request_id"]
    status, tokens = client.json("GET", f"tokens/{request_id}.json")
    check(status == 200 and tokens[0]["service_request_id"] == request_id, "a token leads to its request")

    bad = dict(form, lat="91.5")
    status, body = client.json("POST", "requests.json", form=bad)
    check_error_list(status, body, 400, "a latitude out of range")
    status, root = client.xml("POST", "requests.xml", form=dict(form, service_code="no-such-service"))
    check(status == 400 and root.tag == "errors", "an XML error list")
    check(root.find("error").findtext("code") == "400", "an XML error carries its code")

    # Reading it back.
    status, body = client.json("GET", f"requests/{request_id}.json")
    check(status == 200 and len(body) == 1, "GET requests/{id}.json: one request")
    request = body[0]
    for field in (
        "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
        "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
        "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url",
    ):
        check(field in request, f"a request has {field}")
    check(request["service_request_id"] == request_id, "the request is the one filed")
    check(request["status"] in STATUSES, "status is open or closed")
    check(request["service_code"] == code, "the request has its service code")
    iso8601(request["requested_datetime"], "requested_datetime")
    check(abs(float(request["lat"]) - float(args.lat)) < 1e-5, "lat as filed")
    check(abs(float(request["long"]) - float(args.long)) < 1e-5, "long as filed")
    check("081234567890" not in json.dumps(request), "the filer's phone number is not published")

    status, root = client.xml("GET", f"requests/{request_id}.xml")
    check(root.tag == "service_requests", "requests/{id}.xml: a <service_requests> root")
    check(root.find("request").findtext("service_request_id") == request_id, "the XML request is the one filed")

    status, body = client.json("GET", "requests.json", query={"service_request_id": request_id})
    check([r["service_request_id"] for r in body] == [request_id], "requests.json by service_request_id")
    status, body = client.json("GET", "requests.json", query={"service_code": code, "status": "open"})
    check(request_id in [r["service_request_id"] for r in body], "requests.json by service_code and status")
    status, body = client.json("GET", "requests.json", query={"status": "closed"})
    check(request_id not in [r["service_request_id"] for r in body], "an open request is not closed")
    future = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)).isoformat()
    status, body = client.json("GET", "requests.json", query={"start_date": future})
    check(request_id not in [r["service_request_id"] for r in body], "start_date filters")
    status, root = client.xml("GET", "requests.xml")
    check(request_id in [r.findtext("service_request_id") for r in root.findall("request")], "requests.xml lists it")
    status, body = client.json("GET", "requests.json", query={"start_date": "yesterday"})
    check_error_list(status, body, 400, "a start_date that is not ISO 8601")
    status, body = client.json("GET", "requests/no-such-request.json")
    check_error_list(status, body, 404, "an unknown request")
    print(request_id)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--cafile", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--service", default="")
    parser.add_argument("--lat", required=True)
    parser.add_argument("--long", required=True)
    parser.add_argument("--attribute", action="append", default=[])
    args = parser.parse_args()
    try:
        run(args)
    except Failed as failure:
        print(f"open311 conformance FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
    print(f"open311 conformance: {len(CHECKS)} checks passed", file=sys.stderr)


if __name__ == "__main__":
    main()
