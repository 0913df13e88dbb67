package zoomfake

import "net/http"

func phoneUserJSON(u *User) map[string]any {
	status := "activate"
	if u.Status != "active" {
		status = "deactivate"
	}
	return map[string]any{
		"id":               u.ID,
		"phone_user_id":    u.Phone.PhoneUserID,
		"email":            u.Email,
		"name":             u.DisplayName(),
		"extension_id":     u.Phone.ExtensionID,
		"extension_number": u.Phone.ExtensionNumber,
		"status":           status,
		"site":             map[string]string{"id": "site-main", "name": "Main Office"},
		"phone_numbers":    []map[string]string{{"id": "pn-" + u.Phone.PhoneUserID, "number": u.Phone.Number}},
		"calling_plans":    []map[string]any{{"name": "US/CA Unlimited Calling", "type": 200}},
		"department":       u.Dept,
		"cost_center":      "CC-" + u.Dept,
	}
}

func (s *Server) handleListPhoneUsers(w http.ResponseWriter, r *http.Request, a *Account) {
	// Zoom Phone answers a bad page token with code 400, not 300.
	s.listUsers(w, r, a, "phone/users", 30, 100, 400,
		func(u *User) bool { return u.Phone != nil && u.Status != "pending" }, phoneUserJSON)
}

func (s *Server) handleGetPhoneUser(w http.ResponseWriter, r *http.Request, a *Account) {
	u, ok := a.User(r.PathValue("userId"))
	if !ok || u.Phone == nil {
		userNotFound(w, r.PathValue("userId"))
		return
	}
	m := phoneUserJSON(&u)
	m["site_id"] = "site-main"
	s.writeOK(w, m)
}
