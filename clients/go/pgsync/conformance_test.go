package pgsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	pgsyncv1 "github.com/pg-sync/pg-sync/clients/go/pgsync/gen/pgsync/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// conformanceVectors is test/vectors/client-conformance.json, shared with the TypeScript and
// Python clients.
type conformanceVectors struct {
	SourceRefs map[string]string `json:"source_refs"`
	Backoff    struct {
		CapsMs []int64 `json:"caps_ms"`
	} `json:"backoff"`
	Watch []struct {
		Name    string `json:"name"`
		Request struct {
			SourceRefs  []string `json:"source_refs"`
			Start       string   `json:"start"`
			ResumeToken string   `json:"resume_token"`
			MaxAttempts int      `json:"max_attempts"`
		} `json:"request"`
		Connections []struct {
			Frames []map[string]json.RawMessage `json:"frames"`
			End    *struct {
				Code               string `json:"code"`
				Message            string `json:"message"`
				TrailerResumeToken string `json:"trailer_resume_token"`
			} `json:"end"`
		} `json:"connections"`
		Expect struct {
			Opens       []string        `json:"opens"`
			Yields      []string        `json:"yields"`
			Outcome     json.RawMessage `json:"outcome"`
			Reconnects  int             `json:"reconnects"`
			ResumeToken *string         `json:"resume_token"`
		} `json:"expect"`
	} `json:"watch"`
	InvalidArguments []struct {
		Name     string         `json:"name"`
		Args     map[string]any `json:"args"`
		Argument string         `json:"argument"`
	} `json:"invalid_arguments"`
}

func loadConformance(t *testing.T) conformanceVectors {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "test", "vectors", "client-conformance.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v conformanceVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Watch) == 0 || len(v.InvalidArguments) == 0 {
		t.Fatal("no conformance vectors")
	}
	return v
}

// frameOf reads a vector frame such as {"wake": {"wake_id": ...}} with protojson (gap reasons
// are written without their GAP_REASON_ prefix).
func frameOf(t *testing.T, frame map[string]json.RawMessage) *pgsyncv1.WatchWakesResponse {
	t.Helper()
	for kind, body := range frame {
		var fields map[string]any
		if err := json.Unmarshal(body, &fields); err != nil {
			t.Fatal(err)
		}
		if r, ok := fields["reason"].(string); ok {
			fields["reason"] = "GAP_REASON_" + r
		}
		b, _ := json.Marshal(map[string]any{kind: fields})
		msg := &pgsyncv1.WatchWakesResponse{}
		if err := protojson.Unmarshal(b, msg); err != nil {
			t.Fatalf("frame %s: %v", b, err)
		}
		return msg
	}
	t.Fatal("empty frame")
	return nil
}

func codeOf(t *testing.T, name string) codes.Code {
	t.Helper()
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if strings.EqualFold(strings.ReplaceAll(name, "_", ""), c.String()) {
			return c
		}
	}
	t.Fatalf("unknown code %s", name)
	return codes.Unknown
}

func openOf(req *pgsyncv1.WatchWakesRequest) string {
	if tok := req.GetResumeToken(); tok != "" {
		return "token:" + tok
	}
	if req.GetStartPosition() == pgsyncv1.StartPosition_START_POSITION_EARLIEST {
		return "start:earliest"
	}
	return "start:now"
}

func yieldOf(ev Event) string {
	switch ev.Kind {
	case EventWake:
		return "wake:" + ev.Wake.GetWakeId()
	case EventGap:
		return "gap:" + strings.TrimPrefix(ev.Gap.GetReason().String(), "GAP_REASON_")
	}
	return ev.Kind.String()
}

func TestConformanceWatchVectors(t *testing.T) {
	vectors := loadConformance(t)
	for _, c := range vectors.Watch {
		t.Run(c.Name, func(t *testing.T) {
			fake, client := startFake(t, func(n int, _ *pgsyncv1.WatchWakesRequest, stream grpc.ServerStreamingServer[pgsyncv1.WatchWakesResponse]) error {
				if n > len(c.Connections) {
					return status.Error(codes.DataLoss, "unscripted connection")
				}
				conn := c.Connections[n-1]
				for _, f := range conn.Frames {
					if err := stream.Send(frameOf(t, f)); err != nil {
						return err
					}
				}
				if conn.End == nil {
					return nil
				}
				if conn.End.TrailerResumeToken != "" {
					stream.SetTrailer(metadata.Pairs(ResumeTokenTrailer, conn.End.TrailerResumeToken))
				}
				return status.Error(codeOf(t, conn.End.Code), conn.End.Message)
			})
			s := client.WatchWakes(context.Background(), WatchOptions{
				SourceRefs: c.Request.SourceRefs, Start: c.Request.Start, ResumeToken: c.Request.ResumeToken,
				Backoff: fastBackoff, MaxAttempts: c.Request.MaxAttempts,
			})
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			yields := []string{}
			outcome := `"end"`
			for {
				ev, err := s.Next(ctx)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					outcome = fmt.Sprintf(`{"raise":%q}`, strings.ToUpper(codeName(status.Code(err))))
					break
				}
				yields = append(yields, yieldOf(ev))
			}
			fake.mu.Lock()
			opens := []string{}
			for _, r := range fake.reqs {
				opens = append(opens, openOf(r))
			}
			fake.mu.Unlock()
			var want, got any
			_ = json.Unmarshal(c.Expect.Outcome, &want)
			_ = json.Unmarshal([]byte(outcome), &got)
			if !reflect.DeepEqual(yields, c.Expect.Yields) || !reflect.DeepEqual(opens, c.Expect.Opens) || !reflect.DeepEqual(got, want) {
				t.Fatalf("got yields %v opens %v outcome %v\nwant yields %v opens %v outcome %v", yields, opens, got, c.Expect.Yields, c.Expect.Opens, want)
			}
			if s.Reconnects() != c.Expect.Reconnects {
				t.Errorf("reconnects %d, want %d", s.Reconnects(), c.Expect.Reconnects)
			}
			if c.Expect.ResumeToken != nil && s.ResumeToken() != *c.Expect.ResumeToken {
				t.Errorf("resume token %q, want %q", s.ResumeToken(), *c.Expect.ResumeToken)
			}
		})
	}
}

// codeName is the UPPER_SNAKE name of a code (ResourceExhausted -> RESOURCE_EXHAUSTED).
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// optionsOf maps a vector's arguments (snake_case wire names) onto WatchOptions.
func optionsOf(t *testing.T, refA string, args map[string]any) WatchOptions {
	t.Helper()
	opts := WatchOptions{SourceRefs: []string{refA}, Backoff: fastBackoff}
	millis := func(v any) time.Duration { return time.Duration(v.(float64) * float64(time.Millisecond)) }
	for k, v := range args {
		switch k {
		case "source_refs":
			opts.SourceRefs = []string{}
			for _, r := range v.([]any) {
				opts.SourceRefs = append(opts.SourceRefs, r.(string))
			}
		case "ops":
			for _, name := range v.([]any) {
				opts.Ops = append(opts.Ops, name.(string))
			}
		case "start":
			opts.Start = v.(string)
		case "debounce_ms":
			opts.Debounce = millis(v)
		case "max_wait_ms":
			opts.MaxWait = millis(v)
		case "heartbeat_interval_ms":
			opts.HeartbeatInterval = millis(v)
		case "max_changes_per_wake":
			opts.MaxChangesPerWake = int64(v.(float64))
		default:
			t.Fatalf("unexpected argument %s", k)
		}
	}
	return opts
}

// goFieldName is a vector's argument in Go's casing: "source_refs[1]" -> "SourceRefs[1]",
// "debounce_ms" -> "Debounce" (WatchOptions holds durations, not milliseconds).
func goFieldName(argument string) string {
	var b strings.Builder
	upper := true
	for _, r := range strings.TrimSuffix(strings.Replace(argument, "_ms[", "[", 1), "_ms") {
		switch {
		case r == '_':
			upper = true
		case upper:
			b.WriteString(strings.ToUpper(string(r)))
			upper = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestConformanceInvalidArguments(t *testing.T) {
	vectors := loadConformance(t)
	for _, c := range vectors.InvalidArguments {
		t.Run(c.Name, func(t *testing.T) {
			fake, client := startFake(t, func(int, *pgsyncv1.WatchWakesRequest, grpc.ServerStreamingServer[pgsyncv1.WatchWakesResponse]) error {
				return status.Error(codes.DataLoss, "no call expected")
			})
			s := client.WatchWakes(context.Background(), optionsOf(t, vectors.SourceRefs["A"], c.Args))
			defer s.Close()
			_, err := s.Next(context.Background())
			if field := goFieldName(c.Argument); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), field) {
				t.Fatalf("err %v, want INVALID_ARGUMENT naming %s", err, field)
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if len(fake.reqs) != 0 {
				t.Fatalf("%d calls made", len(fake.reqs))
			}
		})
	}
}

func TestConformanceBackoffDefaults(t *testing.T) {
	vectors := loadConformance(t)
	for i, want := range vectors.Backoff.CapsMs {
		if got := DefaultBackoff.Cap(i + 1); got != time.Duration(want)*time.Millisecond {
			t.Errorf("cap of attempt %d = %v, want %dms", i+1, got, want)
		}
	}
}
