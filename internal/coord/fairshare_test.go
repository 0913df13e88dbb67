package coord

import "testing"

// TestFairShare: the share is ceil(total ÷ live); reservations stop at
// it; a replica over its share sheds one piece at a time; room is
// signalled when the share grows.
func TestFairShare(t *testing.T) {
	f := NewFairShare(8)
	for range 8 {
		if !f.Reserve() {
			t.Fatal("alone, a replica may hold every piece")
		}
	}
	if f.Reserve() {
		t.Fatal("reserved a ninth of eight")
	}
	f.SetLive(3) // ceil(8/3) = 3
	shed := 0
	for f.Shed() {
		shed++
	}
	if owned, share := f.Counts(); shed != 5 || owned != 3 || share != 3 {
		t.Fatalf("shed %d, owned %d, share %d; want 5, 3, 3", shed, owned, share)
	}
	room := f.Room()
	f.SetLive(0) // unknown: nothing changes, no room
	select {
	case <-room:
		t.Fatal("room signalled without room")
	default:
	}
	f.SetLive(2) // share 4: room for one more
	select {
	case <-room:
	default:
		t.Fatal("no room signalled when the share grew")
	}
	if !f.Reserve() || f.Reserve() {
		t.Fatal("want exactly one more reservation")
	}
	f.Unreserve()
	if owned, _ := f.Counts(); owned != 3 {
		t.Fatalf("owned %d after unreserve", owned)
	}
}
