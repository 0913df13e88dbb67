package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// TestBoardInChromium drives the live presence board in a real headless
// Chromium: the token prompt refuses a wrong token and accepts a right
// one, search narrows the list, and a presence webhook turns a person's
// dot without a reload. It saves a screenshot and logs where.
func TestBoardInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("SKIPPED: chromium is not installed, so the board was not tried in a browser (scripts/ensure-packages.sh installs it: apt-get install -y chromium)")
	}
	base, acct := apiServer(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("headless", "new"), chromedp.WindowSize(1280, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	u2, _ := acct.User(zoomfake.UserIDFor(acctID, 2))
	rowStatus := fmt.Sprintf(`(document.getElementById(%q) || {dataset:{}}).dataset.status`, "u-"+u2.ID)
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	count := func() int {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#rows tr").length`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible("#token"),
		chromedp.SendKeys("#token", "not-a-valid-token-at-all"), chromedp.Click("#login-form button")); err != nil {
		t.Fatal(err)
	}
	poll("a wrong token is refused", `document.getElementById("error").textContent.includes("not accepted")`)
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("token").value = ""`), chromedp.SendKeys("#token", apiToken), chromedp.Click("#login-form button")); err != nil {
		t.Fatal(err)
	}
	poll("the board lists people and goes live", `document.querySelectorAll("#rows tr").length > 10 && document.getElementById("live").textContent === "live"`)
	rowsAll := count()
	if err := chromedp.Do(ctx, chromedp.SendKeys("#q", "lovelace")); err != nil {
		t.Fatal(err)
	}
	poll("search narrows the list", `[...document.querySelectorAll("#rows tr")].length > 0 && [...document.querySelectorAll("#rows tr")].every(r => r.textContent.toLowerCase().includes("lovelace"))`)
	rowsFound := count()
	if rowsFound >= rowsAll {
		t.Fatalf("search kept %d of %d rows", rowsFound, rowsAll)
	}
	poll("the person is listed", rowStatus+` !== undefined`)
	// A webhook changes the person's presence; the dot follows, live.
	ev, err := acct.PresenceEvent(u2.ID, "Do_Not_Disturb")
	if err != nil {
		t.Fatal(err)
	}
	if code, err := acct.Deliver(context.Background(), base+"/webhooks/zoom/"+acctID, ev); err != nil || code != 200 {
		t.Fatalf("webhook: %d %v", code, err)
	}
	poll("the dot turns dnd without a reload", rowStatus+` === "dnd"`)
	status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](rowStatus))
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("ZOOMSYNC_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "board.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(shot[:8]), "\x89PNG") {
		t.Fatalf("the screenshot is not a PNG")
	}
	t.Logf("board: %d people, %d after searching \"lovelace\", %s turned %s live; screenshot (%d bytes): %s", rowsAll, rowsFound, u2.Email, status, len(shot), path)
}
