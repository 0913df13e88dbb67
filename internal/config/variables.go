package config

import (
	"reflect"
	"strings"
)

// Variable is one environment variable as an operator sees it: its name,
// its default (from raw's tag, so it is the one Load applies) and what it
// means. README.md's table of variables is generated from VariableDocs
// and a test keeps it, and SPEC §3, in step with the code.
type Variable struct {
	Name, Default, Meaning string
}

// VariableDocs describes every variable Load reads (Variables), in raw's
// order.
func VariableDocs() []Variable {
	t := reflect.TypeFor[raw]()
	out := make([]Variable, 0, t.NumField())
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("env")
		if tag == "" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		v := Variable{Name: name, Meaning: meanings[name]}
		for _, o := range strings.Split(opts, ",") {
			if d, ok := strings.CutPrefix(strings.TrimSpace(o), "default="); ok {
				v.Default = d
			}
		}
		out = append(out, v)
	}
	return out
}

// VariablesMarkdown is the README's table of every variable.
func VariablesMarkdown() string {
	var b strings.Builder
	b.WriteString("| variable | default | meaning |\n| --- | --- | --- |\n")
	for _, v := range VariableDocs() {
		def := "empty"
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		b.WriteString("| `" + v.Name + "` | " + def + " | " + v.Meaning + " |\n")
	}
	return b.String()
}

// meanings says in one line what each variable does (SPEC §3 has the
// details).
var meanings = map[string]string{
	"ZOOMSYNC_HTTP_ADDR":  "public listener: Zoom's webhooks and `/healthz`, `/readyz` only (every other path 404)",
	"ZOOMSYNC_ADMIN_ADDR": "internal listener: helpdesk API, board, OpenAPI document, `/metrics`, health; equal to `ZOOMSYNC_HTTP_ADDR`: one listener for everything",

	"ZOOMSYNC_REDIS_URL":                      "`redis://` or `rediss://` URL of one Redis; empty (and no `ZOOMSYNC_REDIS_ADDRS`): embedded, nothing durable",
	"ZOOMSYNC_REDIS_ADDRS":                    "comma-separated addresses of a Redis Cluster, or of Sentinels with `ZOOMSYNC_REDIS_MASTER_NAME`",
	"ZOOMSYNC_REDIS_MASTER_NAME":              "the Sentinel master name",
	"ZOOMSYNC_REDIS_MIN_REPLICAS":             "acknowledge a webhook only once this many Redis replicas have it",
	"ZOOMSYNC_REDIS_USERNAME":                 "Redis ACL user",
	"ZOOMSYNC_REDIS_PASSWORD":                 "Redis password",
	"ZOOMSYNC_REDIS_PASSWORD_FILE":            "a file holding the Redis password (a mounted secret)",
	"ZOOMSYNC_REDIS_SENTINEL_USERNAME":        "the Sentinels' own ACL user",
	"ZOOMSYNC_REDIS_SENTINEL_PASSWORD":        "the Sentinels' own password",
	"ZOOMSYNC_REDIS_SENTINEL_PASSWORD_FILE":   "a file holding the Sentinels' password",
	"ZOOMSYNC_REDIS_TLS":                      "TLS to every Redis node and Sentinel",
	"ZOOMSYNC_REDIS_TLS_CA_FILE":              "PEM CAs to trust for Redis instead of the system's",
	"ZOOMSYNC_REDIS_TLS_CERT_FILE":            "client certificate for Redis",
	"ZOOMSYNC_REDIS_TLS_KEY_FILE":             "that certificate's key",
	"ZOOMSYNC_REDIS_TLS_SERVER_NAME":          "name Redis certificates are verified against (empty: the host dialled)",
	"ZOOMSYNC_REDIS_TLS_INSECURE_SKIP_VERIFY": "accept any Redis certificate (tests only; warned at every start)",

	"ZOOM_ACCOUNT_ID":                "one Zoom account's id (its Server-to-Server OAuth app)",
	"ZOOM_CLIENT_ID":                 "that app's client id",
	"ZOOM_CLIENT_SECRET":             "that app's client secret",
	"ZOOM_WEBHOOK_SECRET_TOKEN":      "that app's webhook secret token",
	"ZOOM_WEBHOOK_SECRET_TOKEN_NEXT": "during a rotation, the other webhook secret token (either verifies)",
	"ZOOMSYNC_ACCOUNTS_FILE":         "JSON file of several accounts (instead of the `ZOOM_*` variables); re-read on SIGHUP and when it changes",
	"ZOOM_API_BASE_URL":              "Zoom REST base URL (empty: the `api_url` Zoom returns with each token, else `https://api.zoom.us/v2`)",
	"ZOOM_OAUTH_TOKEN_URL":           "Zoom's OAuth token endpoint",
	"ZOOMSYNC_ZOOM_PLAN":             "`business`, `pro` or `free`: the Zoom rate limits the client paces itself by",
	"ZOOMSYNC_ZOOM_RATE_LIMITS":      "per-label overrides, e.g. `medium=30,phone.medium=10` (`0`: no client-side limit)",

	"ZOOM_WEBSOCKET_URL":                         "the account's WebSocket event subscription URL (events without a public endpoint)",
	"ZOOM_WEBSOCKET_SUBSCRIPTION_ID":             "or that subscription's id",
	"ZOOMSYNC_WEBSOCKET_HEARTBEAT":               "how often a heartbeat is sent on each WebSocket",
	"ZOOMSYNC_WEBSOCKET_READ_TIMEOUT":            "a WebSocket silent this long is replaced",
	"ZOOMSYNC_WEBSOCKET_REPAIR_READS_PER_SECOND": "per account, REST presence re-reads that repair a WebSocket's gap",

	"LDAP_URL":                   "`ldap://` or `ldaps://` URL of the directory; empty: no directory",
	"LDAP_START_TLS":             "StartTLS on an `ldap://` connection",
	"LDAP_CA_FILE":               "PEM CAs to trust for the directory",
	"LDAP_INSECURE_SKIP_VERIFY":  "accept any directory certificate (tests only)",
	"LDAP_BIND_DN":               "the service account's DN (or UPN on Active Directory)",
	"LDAP_BIND_PASSWORD":         "its password",
	"LDAP_BASE_DN":               "where people are searched",
	"LDAP_USER_FILTER":           "which entries are people",
	"LDAP_GROUP_DN":              "only this group's members are people (nested groups on Active Directory)",
	"LDAP_PAGE_SIZE":             "paged-results size",
	"ZOOMSYNC_DIRECTORY_REFRESH": "how often the directory is read again (also after every resync); at least `1m`",
	"ZOOMSYNC_MATCH_RULES":       "ordered rules linking Zoom users to entries, `zoomField=ldapAttribute`, comma-separated",

	"ZOOMSYNC_API_TOKENS":             "comma-separated bearer tokens for the helpdesk API and board; empty: every API call is refused",
	"ZOOMSYNC_API_RATE_LIMIT":         "API requests per second per token (burst twice that); `0`: unlimited",
	"ZOOMSYNC_STREAM_MAX_CONNECTIONS": "live presence streams one replica keeps open",
	"ZOOMSYNC_STREAM_MAX_PER_TOKEN":   "of those, how many one token may hold",
	"ZOOMSYNC_TARGETS_FILE":           "JSON file of presence targets (signed webhooks, Zoom Contact Center)",

	"ZOOMSYNC_PRESENCE_MAX_AGE":          "a presence nothing confirmed this long is re-read through the REST API",
	"ZOOMSYNC_PRESENCE_READS_PER_SECOND": "those re-reads per account; `0`: none",
	"ZOOMSYNC_CALL_MAX_DURATION":         "a call whose end never came is closed after this long",
	"ZOOMSYNC_PRESENCE_HISTORY":          "how long each user's status history is kept",

	"ZOOMSYNC_RESYNC_SCHEDULE":     "cron expression (UTC) for the full resync inside `serve`; `off`: none",
	"ZOOMSYNC_MAX_DELETE_FRACTION": "a pull that would remove more than this fraction of an account's users is refused",
	"ZOOMSYNC_TOMBSTONE_TTL":       "how long a deleted user is kept as a tombstone",

	"ZOOMSYNC_LOG_LEVEL":  "`debug`, `info`, `warn` or `error`",
	"ZOOMSYNC_LOG_FORMAT": "`json` or `text`",
}
