// Command pgsync-watch prints every wake of one or more sources, one JSON line each, resuming
// across server restarts:
//
//	PGSYNC_URL=http://127.0.0.1:50051 PGSYNC_TOKEN=... go run ./cmd/pgsync-watch [flags] <source_ref>...
//
// Ready, Gap and SourceStatus frames go to stderr. On Ctrl-C the resume token is printed to stderr.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pg-sync/pg-sync/clients/go/pgsync"
	pgsyncv1 "github.com/pg-sync/pg-sync/clients/go/pgsync/gen/pgsync/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// wakeLine renders a wake as one JSON line, with plain row values (an int4 id prints as 4).
func wakeLine(w *pgsyncv1.Wake) string {
	type change struct {
		Op       string         `json:"op"`
		Key      string         `json:"key"`
		Seq      int64          `json:"seq"`
		Value    map[string]any `json:"value,omitempty"`
		OldValue map[string]any `json:"old_value,omitempty"`
	}
	out := struct {
		WakeID    string   `json:"wake_id"`
		SourceRef string   `json:"source_ref"`
		FirstSeq  int64    `json:"first_seq"`
		LastSeq   int64    `json:"last_seq"`
		Changes   []change `json:"changes"`
	}{WakeID: w.GetWakeId(), SourceRef: w.GetSourceRef(), FirstSeq: w.GetFirstSeq(), LastSeq: w.GetLastSeq(), Changes: []change{}}
	for _, c := range w.GetChanges() {
		out.Changes = append(out.Changes, change{
			Op: pgsync.OperationName(c.GetOperation()), Key: c.GetKey(), Seq: c.GetSeq(),
			Value: pgsync.Row(c), OldValue: pgsync.OldRow(c),
		})
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func main() {
	ops := flag.String("ops", "", "comma-separated operations: insert,update,delete (default: all)")
	debounce := flag.Uint("debounce-ms", 0, "trailing debounce in milliseconds")
	start := flag.String("start", "now", "start position: now or earliest")
	resume := flag.String("resume-token", "", "resume after this token")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: PGSYNC_URL=http://host:port PGSYNC_TOKEN=... pgsync-watch [flags] <source_ref>...")
		flag.PrintDefaults()
	}
	flag.Parse()
	url := os.Getenv("PGSYNC_URL")
	if url == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	opts := pgsync.WatchOptions{
		SourceRefs:  flag.Args(),
		Debounce:    time.Duration(*debounce) * time.Millisecond,
		Start:       *start,
		ResumeToken: *resume,
	}
	for _, op := range strings.Split(*ops, ",") {
		if op = strings.TrimSpace(op); op != "" {
			opts.Ops = append(opts.Ops, op)
		}
	}
	client, err := pgsync.New(url, os.Getenv("PGSYNC_TOKEN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	defer client.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stream := client.WatchWakes(ctx, opts)
	for {
		ev, err := stream.Next(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
				fmt.Fprintf(os.Stderr, "[stopped] resume token: %s\n", stream.ResumeToken())
				return
			}
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		switch ev.Kind {
		case pgsync.EventWake:
			fmt.Println(wakeLine(ev.Wake))
		case pgsync.EventReady:
			b, _ := protojson.Marshal(ev.Ready)
			fmt.Fprintf(os.Stderr, "[ready] %s\n", b)
		case pgsync.EventGap:
			b, _ := protojson.Marshal(ev.Gap)
			fmt.Fprintf(os.Stderr, "[gap] %s\n", b)
		case pgsync.EventStatus:
			b, _ := protojson.Marshal(ev.Status)
			fmt.Fprintf(os.Stderr, "[status] %s\n", b)
		}
	}
}
