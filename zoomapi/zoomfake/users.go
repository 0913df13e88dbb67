package zoomfake

import (
	"fmt"
	"math"
	"net/http"
	"time"
)

// userJSON is a user as GET /users lists it; full adds GET /users/{id}'s
// extra fields.
func (a *Account) userJSON(u *User, full bool) map[string]any {
	groups := u.GroupIDs
	if groups == nil {
		groups = []string{} // Zoom answers an array, never null
	}
	m := map[string]any{
		"email":               u.Email,
		"first_name":          u.FirstName,
		"last_name":           u.LastName,
		"display_name":        u.DisplayName(),
		"type":                u.Type,
		"status":              u.Status,
		"pmi":                 int64(8_000_000_000) + int64(u.seq),
		"timezone":            u.Timezone,
		"verified":            1,
		"dept":                u.Dept,
		"employee_unique_id":  u.EmployeeUniqueID,
		"user_created_at":     u.CreatedAt.UTC().Format(time.RFC3339),
		"created_at":          u.CreatedAt.UTC().Format(time.RFC3339),
		"last_client_version": "6.4.0.1234(mac)",
		"group_ids":           groups,
		"language":            "en-US",
		"role_id":             "2",
	}
	if u.Status != "pending" || full {
		m["id"] = u.ID // Zoom lists pending users without an id
	}
	if u.Status == "active" {
		m["last_login_time"] = u.CreatedAt.Add(24 * time.Hour).UTC().Format(time.RFC3339)
	}
	if full {
		m["account_id"] = a.spec.ID
		m["account_number"] = 1_234_567
		m["role_name"] = "Member"
		m["company"] = "Example Inc"
		m["job_title"] = "Engineer"
		m["location"] = "Remote"
		m["phone_numbers"] = []map[string]any{}
		if u.Phone != nil {
			m["phone_numbers"] = []map[string]any{{"code": "+1", "country": "US", "label": "Office", "number": u.Phone.Number, "verified": true}}
		}
		m["login_types"] = []int{101}
		m["cluster"] = "us06"
	}
	return m
}

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request, a *Account) {
	status := r.URL.Query().Get("status")
	if status == "" {
		status = "active"
	}
	if status != "active" && status != "inactive" && status != "pending" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 300, "message": "Validation Failed.",
			"errors": []map[string]string{{"field": "status", "message": "Invalid field."}}})
		return
	}
	keep := func(u *User) bool { return u.Status == status }
	users, next, size, ok := s.paginate(w, r, a, "users|status="+status, 30, 300, 300, keep)
	if !ok {
		return
	}
	total := a.count("users|status="+status, keep)
	out := make([]map[string]any, len(users))
	for i := range users {
		out[i] = a.userJSON(&users[i], false)
	}
	s.writeOK(w, map[string]any{
		"next_page_token": next,
		"page_count":      int(math.Ceil(float64(total) / float64(size))),
		"page_number":     1,
		"page_size":       size,
		"total_records":   total,
		"users":           out,
	})
}

func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request, a *Account) {
	u, ok := a.User(r.PathValue("userId"))
	if !ok {
		userNotFound(w, r.PathValue("userId"))
		return
	}
	s.writeOK(w, a.userJSON(&u, true))
}

func (s *Server) handleGetPresence(w http.ResponseWriter, r *http.Request, a *Account) {
	u, ok := a.User(r.PathValue("userId"))
	if !ok {
		userNotFound(w, r.PathValue("userId"))
		return
	}
	s.writeOK(w, map[string]any{"status": webhookToREST[u.Presence]})
}

func userNotFound(w http.ResponseWriter, id string) {
	writeError(w, http.StatusNotFound, 1001, fmt.Sprintf("User does not exist: %s.", id))
}
