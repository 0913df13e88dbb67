package graphfake

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// filterEq is the one $filter form the fake takes: property eq 'value'
// (a quote inside the value doubled, as OData writes it).
var filterEq = regexp.MustCompile(`^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$`)

// filterable maps the properties $filter takes to the tenant's indices.
var filterable = map[string]string{"mail": "mail", "userprincipalname": "upn", "onpremisesimmutableid": "onpremisesimmutableid"}

// userJSON writes a user with $select applied.
func userJSON(u *user, sel string) map[string]any {
	all := map[string]any{"id": u.spec.ID, "userPrincipalName": u.spec.UserPrincipalName, "displayName": u.spec.DisplayName,
		"mail": nullable(u.spec.Mail), "onPremisesImmutableId": nullable(u.spec.ImmutableID)}
	if sel == "" {
		delete(all, "onPremisesImmutableId") // not in the default property set
		return all
	}
	out := map[string]any{}
	for _, f := range strings.Split(sel, ",") {
		f = strings.TrimSpace(f)
		for k, v := range all {
			if strings.EqualFold(k, f) {
				out[k] = v
			}
		}
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// users answers GET /users/{key} and GET /users?$filter=….
func (s *Server) users(tok *issuedToken, key string, q url.Values) *answer {
	if !tok.roles[UserReadAll] {
		s.stats.Forbidden++
		return graphErr(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	}
	t, sel := tok.tenant, q.Get("$select")
	if key != "" {
		u := t.userByKey(key, true)
		if u == nil {
			return graphErr(http.StatusNotFound, "Request_ResourceNotFound",
				fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", key))
		}
		return ok(userJSON(u, sel))
	}
	f := q.Get("$filter")
	if f == "" {
		return graphErr(http.StatusBadRequest, "Request_UnsupportedQuery", "The fake lists users by $filter only.")
	}
	m := filterEq.FindStringSubmatch(f)
	if m == nil {
		return graphErr(http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified.")
	}
	index, ok := filterable[strings.ToLower(m[1])]
	if !ok {
		return graphErr(http.StatusBadRequest, "Request_UnsupportedQuery", fmt.Sprintf("Unsupported or invalid query filter clause specified for property '%s' of resource 'User'.", m[1]))
	}
	value := strings.ReplaceAll(m[2], "''", "'")
	var found *user
	switch index {
	case "upn":
		found = t.byUPN[strings.ToLower(value)]
	case "onpremisesimmutableid":
		found = t.by[index][value]
	default:
		found = t.by[index][strings.ToLower(value)]
	}
	list := []any{}
	if found != nil {
		list = append(list, userJSON(found, sel))
	}
	return &answer{status: http.StatusOK, body: map[string]any{"value": list}}
}

// userCost is what a user read costs in the identity limit: 2, 1 with
// $select.
func userCost(q url.Values) int {
	if q.Get("$select") != "" {
		return 1
	}
	return 2
}
