package helpdesk

import (
	"context"
	"errors"
	"net/http"

	"github.com/zoomsync/zoomsync/sync/runs"
)

// Resyncs starts and shows resync runs (runs.Resyncer).
type Resyncs interface {
	// Start begins a run in the background; another run holding the
	// lease is a *runs.RunningError.
	Start(ctx context.Context, trigger string) (*runs.Record, error)
	// Load reads a run's record (runs.ErrNoRun).
	Load(ctx context.Context, id string) (*runs.Record, error)
}

// resyncAPI serves POST /v1/resync and GET /v1/resync/{run_id}.
type resyncAPI struct{ runs Resyncs }

// postResync starts a full resync now (202 with the run id).
func (r resyncAPI) postResync(w http.ResponseWriter, req *http.Request) {
	rec, err := r.runs.Start(req.Context(), runs.TriggerAPI)
	var held *runs.RunningError
	if errors.As(err, &held) {
		writeRunning(w, held)
		return
	}
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "unavailable", "could not record the run: Redis is unavailable")
		return
	}
	w.Header().Set("Location", "/v1/resync/"+rec.RunID)
	writeJSON(w, http.StatusAccepted, rec)
}

// getResync shows a run's progress and summary.
func (r resyncAPI) getResync(w http.ResponseWriter, req *http.Request) {
	rec, err := r.runs.Load(req.Context(), req.PathValue("run_id"))
	switch {
	case errors.Is(err, runs.ErrNoRun):
		apiError(w, http.StatusNotFound, "not_found", "no resync run with that id (runs are kept 30 days)")
	case err != nil:
		apiError(w, http.StatusServiceUnavailable, "unavailable", "Redis is unavailable")
	default:
		writeJSON(w, http.StatusOK, rec)
	}
}

// writeRunning answers POST /v1/resync while another run holds the lease:
// 409 resync_running, naming that run (GET /v1/resync/{run_id} shows it).
func writeRunning(w http.ResponseWriter, held *runs.RunningError) {
	body := map[string]any{"code": "resync_running", "message": held.Error()}
	if held.RunID != "" {
		body["run_id"] = held.RunID
	}
	writeJSON(w, http.StatusConflict, map[string]any{"error": body})
}
