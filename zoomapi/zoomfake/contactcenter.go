package zoomfake

import (
	"encoding/json"
	"net/http"
)

// agentStatuses are the account's agent statuses: Zoom's four system
// statuses and one custom one.
var agentStatuses = []struct{ ID, Name, Type string }{
	{"0", "Offline", "default"},
	{"1", "Ready", "default"},
	{"2", "Not Ready", "default"},
	{"3", "Occupied", "default"},
	{"5", "Lunch Coverage", "custom"},
}

func agentStatusName(id string) (string, bool) {
	for _, s := range agentStatuses {
		if s.ID == id {
			return s.Name, true
		}
	}
	return "", false
}

func agentJSON(u *User) map[string]any {
	access := "active"
	if u.Status != "active" {
		access = "inactive"
	}
	return map[string]any{
		"user_id":         u.ID,
		"user_email":      u.Email,
		"display_name":    u.DisplayName(),
		"role_id":         "agent-role",
		"role_name":       "Agent",
		"status_id":       u.Agent.StatusID,
		"status_name":     u.Agent.StatusName,
		"sub_status_id":   u.Agent.SubStatusID,
		"sub_status_name": u.Agent.SubStatusName,
		"user_access":     access,
		"region_id":       "region-1",
		"region_name":     "Default",
	}
}

func (s *Server) handleListAgents(w http.ResponseWriter, r *http.Request, a *Account) {
	s.listUsers(w, r, a, "contact_center/users", 10, 100, 300, func(u *User) bool { return u.Agent != nil }, agentJSON)
}

func (s *Server) handleGetAgent(w http.ResponseWriter, r *http.Request, a *Account) {
	u, ok := a.User(r.PathValue("userId"))
	if !ok || u.Agent == nil {
		userNotFound(w, r.PathValue("userId"))
		return
	}
	s.writeOK(w, agentJSON(&u))
}

func (s *Server) handlePatchAgentStatus(w http.ResponseWriter, r *http.Request, a *Account) {
	var body struct {
		StatusID    string `json:"status_id"`
		SubStatusID string `json:"sub_status_id"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, 300, "Request Body should be a valid JSON object.")
		return
	}
	name, known := agentStatusName(body.StatusID)
	if !known {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 300, "message": "Validation Failed.",
			"errors": []map[string]string{{"field": "status_id", "message": "Invalid field."}}})
		return
	}
	u, ok := a.User(r.PathValue("userId"))
	if !ok || u.Agent == nil {
		userNotFound(w, r.PathValue("userId"))
		return
	}
	_, _ = a.UpdateUser(u.ID, func(u *User) {
		u.Agent.StatusID, u.Agent.StatusName = body.StatusID, name
		u.Agent.SubStatusID, u.Agent.SubStatusName = body.SubStatusID, ""
	})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleSystemStatuses(w http.ResponseWriter, r *http.Request, a *Account) {
	out := make([]map[string]string, len(agentStatuses))
	for i, st := range agentStatuses {
		out[i] = map[string]string{"status_id": st.ID, "status_name": st.Name, "status_category": "agent_status", "status_type": st.Type}
	}
	s.writeOK(w, map[string]any{"statuses": out, "total_records": len(out)})
}
