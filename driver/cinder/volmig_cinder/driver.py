"""A Cinder volume driver over one volmigd backend.

One Cinder backend section = one volmigd backend (volmig_url, volmig_backend). Cinder keeps its
own volume records; the volmigd volume behind each is named by Cinder's provider_id (volmig's
volume id, which volmig keeps across a migration), and provider_location is
"<volmigd URL>/v3/volumes/<volmig id>", the daemon that holds the data.

Migration: the stats publish this backend's volmig pool (volmig_pool, host@backend#pool) and
volmigd URL (volmig_url). When Cinder asks the driver to migrate a volume to a host whose
capabilities carry them, the own volmigd is told to migrate (os-migrate_volume, volmig's
negotiated, verified copy) and the driver waits for it; to any other host it returns
(False, None) and Cinder's generic dd copy runs, which reads sparse_copy_volume from the
destination's driver.capabilities: refreshed here on every stats poll.
"""
import time

from oslo_config import cfg
from oslo_log import log as logging

from cinder import exception
from cinder import interface
from cinder.volume import configuration
from cinder.volume import driver

from volmig_cinder.http import NotFound, VolmigClient

LOG = logging.getLogger(__name__)

volume_opts = [
    cfg.StrOpt("volmig_url", help="Base URL of the volmigd serving this backend, e.g. http://127.0.0.1:8776"),
    cfg.StrOpt("volmig_backend", help="The volmigd backend (its enabled_backends name) this Cinder backend uses"),
    cfg.StrOpt("volmig_token", secret=True, help="The volmigd auth_token (X-Auth-Token); unset for auth_strategy = noauth"),
    cfg.StrOpt("volmig_ca_file", help="With an https:// volmig_url: the CA (PEM) that signed volmigd's certificate "
                                      "(unset: the system's CAs); the certificate is always verified"),
    cfg.IntOpt("volmig_migration_timeout", default=3600, min=1,
               help="Seconds a driver-assisted migration may take before it is reported failed"),
]

CONF = cfg.CONF
CONF.register_opts(volume_opts, group=configuration.SHARED_CONF_GROUP)

# Cinder's _can_use_driver_migration: the extra specs a driver-assisted retype may change.
MOVABLE_SPECS = ("volume_backend_name", "RESKEY:availability_zones")
WAIT_POLL_SECONDS = 0.2
PROGRESS_LOG_SECONDS = 5.0


@interface.volumedriver
class VolmigDriver(driver.VolumeDriver):
    """volmigd as a Cinder backend: thin_file, thick_file or lvm pools behind its REST API."""

    VERSION = "0.1.0"
    CI_WIKI_NAME = "volmig"

    def __init__(self, *args, **kwargs):
        super(VolmigDriver, self).__init__(*args, **kwargs)
        self.configuration.append_config_values(volume_opts)
        self.client = None
        self.volmig_host = None    # "host@backend" as volmigd names this backend
        self.volmig_pool = None    # "host@backend#pool"
        self.backend_type = None   # volmigd's own volume type of the backend (its volume_backend_name)

    @staticmethod
    def get_driver_options():
        return volume_opts

    # -- setup
    def do_setup(self, context):
        url = self.configuration.safe_get("volmig_url")
        backend = self.configuration.safe_get("volmig_backend")
        if not url or not backend:
            raise exception.InvalidConfigurationValue(option="volmig_url/volmig_backend", value="(unset): both are needed")
        self.client = VolmigClient(url, self.configuration.safe_get("volmig_token"),
                                   ca_file=self.configuration.safe_get("volmig_ca_file"))
        self._find_pool()

    def _pools(self):
        return self.client.request("GET", "/v3/scheduler-stats/get_pools?detail=true")["pools"]

    def _find_pool(self):
        """This backend's pool in volmigd's get_pools: [name, capabilities]."""
        backend = self.configuration.safe_get("volmig_backend")
        pools = self._pools()
        for pool in pools:
            host, _, rest = pool["name"].partition("@")
            if rest.partition("#")[0] == backend:
                self.volmig_host = "%s@%s" % (host, backend)
                self.volmig_pool = pool["name"]
                self.backend_type = pool["capabilities"]["volume_backend_name"]
                return pool
        raise exception.VolumeBackendAPIException(
            data="volmigd at %s has no backend %s (its pools: %s)" % (self.client.url, backend, ", ".join(p["name"] for p in pools) or "none"))

    def check_for_setup_error(self):
        pool = self._find_pool()
        if pool["capabilities"].get("backend_state", "up") != "up":
            raise exception.VolumeBackendAPIException(data="volmigd backend %s is %s" % (self.volmig_pool, pool["capabilities"]["backend_state"]))

    # -- stats and capabilities
    def _capability_document(self):
        return self.client.request("GET", "/v3/capabilities/%s" % self.volmig_host)

    def _update_volume_stats(self):
        caps = self._find_pool()["capabilities"]
        document = self._capability_document()
        sparse = bool(document.get("sparse_copy_volume", False))
        backend_name = self.configuration.safe_get("volume_backend_name") or "volmig-%s" % self.configuration.safe_get("volmig_backend")
        volmig = {
            "volmig_pool": self.volmig_pool,
            "volmig_url": self.client.url,
            "sparse_copy_volume": sparse,
        }
        pool = {
            "pool_name": caps["pool_name"],
            "total_capacity_gb": caps["total_capacity_gb"],
            "free_capacity_gb": caps["free_capacity_gb"],
            "allocated_capacity_gb": caps.get("allocated_capacity_gb", 0),
            "provisioned_capacity_gb": caps.get("provisioned_capacity_gb", 0),
            "max_over_subscription_ratio": caps.get("max_over_subscription_ratio", 1.0),
            "reserved_percentage": caps.get("reserved_percentage", 0),
            "thin_provisioning_support": caps.get("thin_provisioning_support", False),
            "thick_provisioning_support": caps.get("thick_provisioning_support", True),
            "multiattach": False,
            "QoS_support": False,
            "backend_state": caps.get("backend_state", "up"),
        }
        pool.update(volmig)
        for key in ("volmig:discard", "volmig:discard_zeroes", "volmig:block_size", "volmig:sparse_copy_policy", "volmig:driver"):
            pool[key] = caps.get(key)
        stats = {
            "volume_backend_name": backend_name,
            "vendor_name": "volmig",
            "driver_version": self.VERSION,
            "storage_protocol": "local",
            "total_capacity_gb": pool["total_capacity_gb"],
            "free_capacity_gb": pool["free_capacity_gb"],
            "pools": [pool],
        }
        stats.update(volmig)
        self._stats = stats
        # Cinder's generic migration reads the destination's driver.capabilities, set once at
        # init_host: keep its sparse_copy_volume as live as the stats.
        if isinstance(self.capabilities, dict):
            self.capabilities["sparse_copy_volume"] = sparse
            self.capabilities["volmig_pool"] = self.volmig_pool
            self.capabilities["volmig_url"] = self.client.url

    def get_volume_stats(self, refresh=False):
        if refresh or not self._stats:
            self._update_volume_stats()
        return self._stats

    def _init_vendor_properties(self):
        properties = {}
        facts = self._capability_document().get("properties", {})

        def fact(key, title, kind):
            default = facts.get(key, {}).get("default")
            description = facts.get(key, {}).get("description", title)
            extra = {} if default is None else {"default": default}
            self._set_property(properties, key, title, description, kind, **extra)

        fact("volmig:discard", "Discard", "boolean")
        fact("volmig:discard_zeroes", "Discard reads zeros", "boolean")
        fact("volmig:block_size", "Block size", "integer")
        fact("volmig:sparse_copy_policy", "Sparse copy policy", "string")
        return properties, "volmig"

    # -- volumes
    def _location(self, volmig_id, url=None):
        return "%s/v3/volumes/%s" % (url or self.client.url, volmig_id)

    def _wait(self, volmig_id, done, what, timeout=600):
        """Polls the volmig volume until done(view) is true; raises on status error or timeout."""
        deadline = time.time() + timeout
        while True:
            view = self.client.volume(volmig_id)
            if done(view):
                return view
            if view.get("status") in ("error", "error_deleting", "error_extending"):
                raise exception.VolumeBackendAPIException(
                    data="volmigd volume %s: %s ended in %s: %s" % (volmig_id, what, view["status"], view.get("volmig:error")))
            if time.time() > deadline:
                raise exception.VolumeBackendAPIException(data="volmigd volume %s: %s did not end within %d s" % (volmig_id, what, timeout))
            time.sleep(WAIT_POLL_SECONDS)

    def create_volume(self, volume):
        body = {"volume": {"size": volume.size, "name": volume.name, "volume_type": self.backend_type,
                           "description": "cinder volume %s" % volume.id}}
        created = self.client.request("POST", "/v3/volumes", body)["volume"]
        view = self._wait(created["id"], lambda v: v["status"] != "creating", "create")
        if view["status"] != "available":
            raise exception.VolumeBackendAPIException(data="volmigd volume %s was created %s" % (created["id"], view["status"]))
        LOG.info("Volume %s: volmig volume %s on %s", volume.id, created["id"], view["os-vol-host-attr:host"])
        return {"provider_id": created["id"], "provider_location": self._location(created["id"])}

    def delete_volume(self, volume):
        volmig_id = volume.provider_id
        if not volmig_id:
            LOG.warning("Volume %s has no volmig volume (no provider_id): nothing to delete", volume.id)
            return
        try:
            self.client.request("DELETE", "/v3/volumes/%s" % volmig_id)
            self._wait(volmig_id, lambda v: False, "delete")
        except NotFound:
            return  # gone: what a delete wants

    def extend_volume(self, volume, new_size):
        self.client.action(volume.provider_id, "os-extend", {"new_size": new_size})
        self._wait(volume.provider_id, lambda v: v["size"] == new_size and v["status"] == "available", "extend to %d GiB" % new_size)

    def create_export(self, context, volume, connector):
        return None  # the connection is made by initialize_connection: a local path

    def ensure_export(self, context, volume):
        return None

    def remove_export(self, context, volume):
        return None

    def initialize_connection(self, volume, connector, **kwargs):
        """volmigd's os-initialize_connection: a local path (the volume's file, a loop device
        over its region, its LV). Cinder decides who may connect; volmigd wants the volume
        reserved first, so an available volume is reserved for the connection."""
        volmig_id = volume.provider_id
        if self.client.volume(volmig_id)["status"] == "available":
            self.client.action(volmig_id, "os-reserve")
        info = self.client.action(volmig_id, "os-initialize_connection", {"connector": connector or {}})["connection_info"]
        return {"driver_volume_type": "local", "data": {"device_path": info["data"]["device_path"]}}

    def terminate_connection(self, volume, connector, **kwargs):
        volmig_id = volume.provider_id
        try:
            self.client.action(volmig_id, "os-terminate_connection", {"connector": connector})
            if self.client.volume(volmig_id)["status"] in ("attaching", "reserved"):
                self.client.action(volmig_id, "os-unreserve")
        except NotFound:
            LOG.warning("Volume %s: volmig volume %s is gone: nothing to disconnect", volume.id, volmig_id)

    # -- migration and retype
    def migrate_volume(self, ctxt, volume, host):
        """Driver-assisted migration onto another volmig pool: (True, {'provider_location'})
        once volmig's migration succeeded; (False, None) for any other destination (Cinder's
        generic copy runs). Raises when volmig's migration fails."""
        caps = (host or {}).get("capabilities") or {}
        destination, url = caps.get("volmig_pool"), caps.get("volmig_url")
        if not destination or not url:
            LOG.info("Volume %s: %s is not a volmig pool: Cinder's generic migration", volume.id, (host or {}).get("host"))
            return False, None
        # A retype that migrates runs with status retyping (maintenance for some admin
        # paths); the status the volume returns to is previous_status.
        status = volume.status
        if status in ("retyping", "maintenance"):
            status = volume.previous_status
        if status != "available":
            LOG.info("Volume %s is %s (was %s): volmig migrates available volumes only: Cinder's generic migration",
                     volume.id, volume.status, volume.previous_status)
            return False, None
        volmig_id = volume.provider_id
        LOG.info("Volume %s: volmig migration of %s from %s to %s (%s)", volume.id, volmig_id, self.volmig_pool, destination, url)
        self.client.action(volmig_id, "os-migrate_volume", {"host": destination, "force_host_copy": False, "lock_volume": False})
        view = self._wait_migration(volume, volmig_id)
        m = view["volmig:migration"]
        LOG.info("Volume %s: volmig migration %s succeeded: strategy %s, verified %s, now on %s",
                 volume.id, m["id"], (m.get("plan") or {}).get("strategy"), (m.get("report") or {}).get("verified"), view.get("volmig:moved_to"))
        return True, {"provider_location": self._location(volmig_id, url.rstrip("/"))}

    def _wait_migration(self, volume, volmig_id):
        timeout = self.configuration.safe_get("volmig_migration_timeout") or 3600
        deadline = time.time() + timeout
        logged = 0.0
        while True:
            view = self.client.volume(volmig_id)
            m = view.get("volmig:migration") or {}
            state = m.get("state")
            if state == "success":
                return view
            if state == "error":
                raise exception.VolumeBackendAPIException(
                    data="volmig migration %s of volume %s failed: %s" % (m.get("id"), volume.id, m.get("error")))
            if time.time() - logged >= PROGRESS_LOG_SECONDS:
                p = m.get("progress") or {}
                LOG.info("Volume %s: volmig migration %s %s: %s%% (%s of %s bytes, ETA %s s)", volume.id, m.get("id"), state,
                         p.get("percent"), p.get("bytes_done"), p.get("bytes_total"), p.get("eta_seconds"))
                logged = time.time()
            if time.time() > deadline:
                raise exception.VolumeBackendAPIException(
                    data="volmig migration of volume %s did not end within volmig_migration_timeout = %d s (last state %s)" % (volume.id, timeout, state))
            time.sleep(WAIT_POLL_SECONDS)

    def update_migrated_volume(self, ctxt, volume, new_volume, original_volume_status):
        """After Cinder's generic migration: the source record takes the new volume's storage.
        Only _name_id and provider_location: Volume.finish_volume_migration swaps provider_id
        itself, and returning it too would swap it back (the old volume's delete would then go
        to the new volmig volume)."""
        return {"_name_id": new_volume.name_id, "provider_location": new_volume.provider_location}

    def retype(self, context, volume, new_type, diff, host):
        """In place when nothing but what Cinder's _can_use_driver_migration lets through
        changes (volume_backend_name, availability zones) and the volume stays on this
        backend; otherwise False, and Cinder migrates."""
        if host and host.get("host", "").partition("#")[0] != (volume.host or "").partition("#")[0]:
            return False, None
        diff = diff or {}
        if changed(diff.get("qos_specs")) or changed(diff.get("encryption")):
            return False, None
        return (not [k for k in changed(diff.get("extra_specs")) if k not in MOVABLE_SPECS]), None


def changed(pairs):
    """The keys of a volume_types_diff section whose (old, new) values differ (the diff also
    lists the keys both types share unchanged)."""
    return [k for k, v in (pairs or {}).items() if not (isinstance(v, (tuple, list)) and len(v) == 2 and v[0] == v[1])]
