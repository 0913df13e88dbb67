package zoomjson

import (
	"encoding/json"
	"testing"
	"time"
)

func TestLenientScalars(t *testing.T) {
	var v struct {
		S1, S2, S3, S4 String
		I1, I2, I3, I4 Int
		T1, T2, T3, T4 Time
	}
	in := `{"S1":"a","S2":1002,"S3":null,"S4":{"x":1},
	        "I1":3,"I2":"2","I3":"x","I4":3.0,
	        "T1":"2022-02-15T09:27:15.987Z","T2":1626230691572,"T3":"1626230691572","T4":"garbage"}`
	if err := json.Unmarshal([]byte(in), &v); err != nil {
		t.Fatal(err)
	}
	if v.S1 != "a" || v.S2 != "1002" || v.S3 != "" || v.S4 != "" {
		t.Errorf("strings: %+v", v)
	}
	if v.I1 != 3 || v.I2 != 2 || v.I3 != 0 || v.I4 != 3 {
		t.Errorf("ints: %d %d %d %d", v.I1, v.I2, v.I3, v.I4)
	}
	if !v.T1.Equal(time.Date(2022, 2, 15, 9, 27, 15, 987e6, time.UTC)) ||
		!v.T2.Equal(time.UnixMilli(1626230691572)) || !v.T3.Equal(v.T2.Time) || !v.T4.IsZero() {
		t.Errorf("times: %v %v %v %v", v.T1, v.T2, v.T3, v.T4)
	}
	b, _ := json.Marshal(struct{ A, B Time }{A: v.T1})
	if string(b) != `{"A":"2022-02-15T09:27:15.987Z","B":null}` {
		t.Errorf("marshal: %s", b)
	}
}
