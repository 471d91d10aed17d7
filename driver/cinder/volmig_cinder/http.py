"""volmigd's REST API as the driver uses it: JSON over `requests`, every failure a
VolumeBackendAPIException carrying volmigd's own message."""
import requests

from cinder import exception


class NotFound(Exception):
    """volmigd answered 404 (the volume, or the route, is not there)."""


def message_of(response):
    """volmigd's error message: Cinder's {"badRequest": {"message": ...}} shape, else the text."""
    try:
        doc = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason
    if isinstance(doc, dict):
        for value in doc.values():
            if isinstance(value, dict) and "message" in value:
                return str(value["message"])
    return str(doc)[:500]


class VolmigClient(object):
    """One volmigd: its base URL and token (the [backend] section's volmig_url, volmig_token).
    With an https:// URL the daemon's certificate is always verified: against ca_file
    (volmig_ca_file) when given, else the system's CAs."""

    def __init__(self, url, token=None, timeout=60, ca_file=None):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        # Given with every request: requests lets $REQUESTS_CA_BUNDLE override a session's verify.
        self.verify = ca_file or True
        self.session.headers.update({"Accept": "application/json",
                                     "X-Auth-Token": token or "volmig-cinder"})

    def request(self, method, path, body=None, expect=(200, 202)):
        """JSON of the answer (None when it has no body); NotFound on 404; any other status
        outside `expect`, and any transport error, is a VolumeBackendAPIException naming the
        request and volmigd's message."""
        what = "%s %s%s" % (method, self.url, path)
        try:
            r = self.session.request(method, self.url + path, json=body, timeout=self.timeout, verify=self.verify)
        except requests.exceptions.SSLError as e:
            raise exception.VolumeBackendAPIException(
                data="volmigd's certificate was not accepted: %s: %s (check volmig_ca_file)" % (what, e))
        except requests.RequestException as e:
            raise exception.VolumeBackendAPIException(data="volmigd unreachable: %s: %s" % (what, e))
        if r.status_code == 404:
            raise NotFound(message_of(r))
        if r.status_code not in expect:
            raise exception.VolumeBackendAPIException(
                data="volmigd refused %s with HTTP %d: %s" % (what, r.status_code, message_of(r)))
        if not r.content:
            return None
        try:
            return r.json()
        except ValueError:
            raise exception.VolumeBackendAPIException(data="volmigd answered %s with a body that is not JSON" % what)

    def volume(self, volume_id):
        return self.request("GET", "/v3/volumes/%s" % volume_id)["volume"]

    def action(self, volume_id, name, args=None):
        return self.request("POST", "/v3/volumes/%s/action" % volume_id, {name: args})
