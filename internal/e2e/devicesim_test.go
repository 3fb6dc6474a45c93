package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/medcmdb/medcmdb/internal/testkit"
)

// TestDevicesimBinary drives the devicesim command as a user would: start it, list
// devices on the control endpoint, read one with net-snmp, break it by hand.
func TestDevicesimBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	snmpget := testkit.RequireTool(t, "snmpget")
	p := testkit.Start(t, testkit.Binary(t, "devicesim"), "--devices", "300", "--listen", "0.0.0.0:0",
		"--control-listen", "127.0.0.1:0", "--scenario", "default", "--time-scale", "0.01")
	port := p.WaitFor(`msg="devicesim ready".* snmp=0\.0\.0\.0:(\d+)`, 30*time.Second)
	control := p.WaitFor(`control=(http://\S+)`, time.Second)
	p.WaitFor(`msg="scenario finished"`, 30*time.Second)

	var devs []struct {
		Name, IP, Class, Serial string
		Reachable               bool
	}
	resp, err := http.Get(control + "/devices?class=LAB_ANALYZER")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(resp.Body).Decode(&devs); err != nil || len(devs) == 0 {
		t.Fatalf("GET /devices: %v %v", err, devs)
	}
	resp.Body.Close()
	d := devs[0]
	get := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return testkit.Run(ctx, snmpget, "-v2c", "-c", "public", "-On", "-r", "0", "-t", "1",
			fmt.Sprintf("%s:%s", d.IP, port), "1.3.6.1.2.1.47.1.1.1.1.11.1")
	}
	if out, err := get(); err != nil || !strings.Contains(out, d.Serial) {
		t.Fatalf("snmpget serial of %s: %v %s", d.Name, err, out)
	}
	resp, err = http.Post(control+"/devices/"+d.Name+"/down", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST down: %v %v", err, resp)
	}
	resp.Body.Close()
	if out, err := get(); err == nil {
		t.Fatalf("%s still answers after POST down: %s", d.Name, out)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("devicesim did not stop cleanly: %v", err)
	}
}
