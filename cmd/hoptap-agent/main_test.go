package main

import (
	"testing"

	"github.com/hoptap/hoptap/agent/node"
)

// A flag given wins over the file; a flag left alone does not undo it.
func TestOverlay(t *testing.T) {
	cmd := command()
	if err := cmd.ParseFlags([]string{"--port", "7000", "--log-level", "debug"}); err != nil {
		t.Fatal(err)
	}
	var flags node.Config
	// The command's own flag values are what overlay reads.
	f := cmd.Flags()
	flags.Ports, _ = f.GetStringSlice("port")
	flags.LogLevel, _ = f.GetString("log-level")
	file := node.Config{Ports: []string{"50051"}, LogLevel: "warn", MetricsAddr: "127.0.0.1:1", Payload: "all"}
	overlay(&file, &flags, f)
	if len(file.Ports) != 1 || file.Ports[0] != "7000" || file.LogLevel != "debug" {
		t.Errorf("flags given did not win: %+v", file)
	}
	if file.MetricsAddr != "127.0.0.1:1" || file.Payload != "all" {
		t.Errorf("flags not given undid the file: %+v", file)
	}
}

func TestLogger(t *testing.T) {
	if _, err := logger("xml", "info"); err == nil {
		t.Error("log format xml accepted")
	}
	if _, err := logger("json", "loud"); err == nil {
		t.Error("log level loud accepted")
	}
	if _, err := logger("json", "warn"); err != nil {
		t.Error(err)
	}
}
