package pgsync

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	pgsyncv1 "github.com/pg-sync/pg-sync/clients/go/pgsync/gen/pgsync/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// stackInfo is the JSON line printed by test/support/stack.ts.
type stackInfo struct {
	PgsyncURL   string `json:"pgsyncUrl"`
	TokenA      string `json:"tokenA"`
	TokenB      string `json:"tokenB"`
	DatabaseURL string `json:"databaseUrl"`
	ControlURL  string `json:"controlUrl"`
	ShapeURL    string `json:"shapeUrl"`
}

var (
	stackOnce sync.Once
	stackCmd  *exec.Cmd
	stackData *stackInfo
	stackErr  error
	stackLog  strings.Builder
	stackMu   sync.Mutex
)

func TestMain(m *testing.M) {
	code := m.Run()
	if stackCmd != nil && stackCmd.Process != nil {
		_ = stackCmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = stackCmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = stackCmd.Process.Kill()
		}
	}
	os.Exit(code)
}

func repoRoot() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "..")
}

// liveStack starts the stack once per test binary (lazily) and returns it.
func liveStack(t *testing.T) *stackInfo {
	t.Helper()
	if os.Getenv("PGSYNC_TEST_PG_URL") == "" {
		msg := "PGSYNC_TEST_PG_URL is not set (scripts/test-go.sh starts a Postgres when it is missing)"
		if os.Getenv("PGSYNC_REQUIRE_LIVE") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	stackOnce.Do(func() {
		node, err := exec.LookPath("node")
		if err != nil {
			stackErr = fmt.Errorf("node is not on PATH (source scripts/bootstrap.sh): %w", err)
			return
		}
		cmd := exec.Command(node, "--import", "tsx", "test/support/stack.ts")
		cmd.Dir = repoRoot()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = writerFunc(func(p []byte) (int, error) {
			stackMu.Lock()
			defer stackMu.Unlock()
			return stackLog.Write(p)
		})
		if err := cmd.Start(); err != nil {
			stackErr = err
			return
		}
		stackCmd = cmd
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		deadline := time.After(180 * time.Second)
		for stackData == nil && stackErr == nil {
			select {
			case line, ok := <-lines:
				if !ok {
					stackErr = errors.New("stack exited before printing its URLs")
				} else if strings.HasPrefix(line, "{") && strings.Contains(line, "pgsyncUrl") {
					var info stackInfo
					if err := json.Unmarshal([]byte(line), &info); err != nil {
						stackErr = err
					} else {
						stackData = &info
					}
				}
			case <-deadline:
				stackErr = errors.New("stack did not start within 180s")
			}
		}
		if stackErr == nil {
			go func() {
				for range lines {
				}
			}()
		}
	})
	if stackErr != nil {
		stackMu.Lock()
		out := stackLog.String()
		stackMu.Unlock()
		if len(out) > 4000 {
			out = out[len(out)-4000:]
		}
		t.Fatalf("stack: %v\n%s", stackErr, out)
	}
	return stackData
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func sqlExec(t *testing.T, s *stackInfo, query string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func newTable(t *testing.T, s *stackInfo) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "todos_go_" + hex.EncodeToString(b)
	sqlExec(t, s, fmt.Sprintf("CREATE TABLE %s (id serial PRIMARY KEY, title text, done bool)", name))
	return name
}

func newClient(t *testing.T, url, token string) *Client {
	t.Helper()
	c, err := New(url, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// registerLive registers a source on table and waits (with a deadline) until it is LIVE.
func registerLive(t *testing.T, c *Client, table string) string {
	t.Helper()
	ctx := ctxT(t, 60*time.Second)
	res, err := c.RegisterSource(ctx, SourceOptions{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	for {
		cur, err := c.GetCursor(ctx, res.GetSourceRef())
		if err != nil {
			t.Fatal(err)
		}
		if cur.GetState() == pgsyncv1.SourceState_SOURCE_STATE_LIVE {
			return res.GetSourceRef()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("source on %s not LIVE: %v", table, cur.GetState())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func nextOf(t *testing.T, s *WakeStream, kind EventKind, d time.Duration) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		ev, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %v: %v", kind, err)
		}
		if ev.Kind == kind {
			return ev
		}
	}
}

func TestLiveRegisterIsDeterministicAndIdempotent(t *testing.T) {
	s := liveStack(t)
	c := newClient(t, s.PgsyncURL, s.TokenA)
	ctx := ctxT(t, 30*time.Second)
	opts := SourceOptions{Table: newTable(t, s), Columns: []string{"id", "title"}, Replica: "full"}
	want, _ := SourceRef(opts)
	first, err := c.RegisterSource(ctx, opts)
	if err != nil || !first.GetCreated() || first.GetSourceRef() != want {
		t.Fatalf("register: %v %v (want ref %s)", first, err, want)
	}
	again, err := c.RegisterSource(ctx, opts)
	if err != nil || again.GetCreated() || again.GetSourceRef() != want {
		t.Fatalf("re-register: %v %v", again, err)
	}
	src, err := c.GetSource(ctx, want)
	if err != nil || src.GetOptions().GetTable() != opts.Table || !slices.Equal(src.GetOptions().GetColumns(), opts.Columns) {
		t.Fatalf("get: %v %v", src, err)
	}
	all, err := c.AllSources(ctx)
	if err != nil || !slices.ContainsFunc(all, func(x *pgsyncv1.Source) bool { return x.GetSourceRef() == want }) {
		t.Fatalf("list: %d sources, %v", len(all), err)
	}
	cur, err := c.GetCursor(ctx, want)
	if err != nil || cur.GetSourceRef() != want {
		t.Fatalf("cursor: %v %v", cur, err)
	}
}

// readyWatch starts the stack, creates a table, registers it (LIVE) and watches it as tenant A,
// returning once the stream delivered Ready; the stream is closed when the test ends.
func readyWatch(t *testing.T) (s *stackInfo, table, ref string, w *WakeStream) {
	t.Helper()
	s = liveStack(t)
	c := newClient(t, s.PgsyncURL, s.TokenA)
	table = newTable(t, s)
	ref = registerLive(t, c, table)
	w = c.WatchWakes(context.Background(), WatchOptions{SourceRefs: []string{ref}, Backoff: fastBackoff})
	t.Cleanup(w.Close)
	nextOf(t, w, EventReady, 30*time.Second)
	return s, table, ref, w
}

func TestLiveWakesInOrder(t *testing.T) {
	s, table, ref, w := readyWatch(t)
	sqlExec(t, s, fmt.Sprintf("INSERT INTO %s (title, done) VALUES ('write tests', false)", table))
	sqlExec(t, s, fmt.Sprintf("UPDATE %s SET done = true WHERE title = 'write tests'", table))
	sqlExec(t, s, fmt.Sprintf("DELETE FROM %s WHERE title = 'write tests'", table))
	var changes []*pgsyncv1.Change
	ids := map[string]bool{}
	for len(changes) < 3 {
		ev := nextOf(t, w, EventWake, 30*time.Second)
		if ids[ev.Wake.GetWakeId()] || ev.Wake.GetSourceRef() != ref {
			t.Fatalf("duplicate or foreign wake %v", ev.Wake)
		}
		ids[ev.Wake.GetWakeId()] = true
		changes = append(changes, ev.Wake.GetChanges()...)
	}
	var ops []string
	for _, ch := range changes {
		ops = append(ops, ch.GetOperation().String())
	}
	want := []string{"OPERATION_INSERT", "OPERATION_UPDATE", "OPERATION_DELETE"}
	if !slices.Equal(ops, want) {
		t.Fatalf("ops %v want %v", ops, want)
	}
	if changes[0].GetValue().GetFields()["title"].GetStringValue() != "write tests" {
		t.Fatalf("insert value %v", changes[0].GetValue())
	}
	if !(changes[0].GetSeq() < changes[1].GetSeq() && changes[1].GetSeq() < changes[2].GetSeq()) {
		t.Fatalf("seqs not increasing")
	}
}

func TestLiveResumesAcrossRestart(t *testing.T) {
	s, table, _, w := readyWatch(t)
	var titles []string
	ids := map[string]bool{}
	var seqs []int64
	take := func() {
		ev := nextOf(t, w, EventWake, 60*time.Second)
		if ids[ev.Wake.GetWakeId()] {
			t.Fatalf("duplicate wake %s", ev.Wake.GetWakeId())
		}
		ids[ev.Wake.GetWakeId()] = true
		for _, ch := range ev.Wake.GetChanges() {
			titles = append(titles, ch.GetValue().GetFields()["title"].GetStringValue())
			seqs = append(seqs, ch.GetSeq())
		}
	}
	sqlExec(t, s, fmt.Sprintf("INSERT INTO %s (title) VALUES ('before')", table))
	take()
	restarted := make(chan error, 1)
	go func() {
		res, err := http.Post(s.ControlURL+"/restart", "text/plain", nil)
		if err == nil {
			if res.StatusCode != 200 {
				err = fmt.Errorf("restart: HTTP %d", res.StatusCode)
			}
			res.Body.Close()
		}
		restarted <- err
	}()
	for i := range 3 {
		sqlExec(t, s, fmt.Sprintf("INSERT INTO %s (title) VALUES ($1)", table), fmt.Sprintf("during-%d", i))
	}
	select {
	case err := <-restarted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(120 * time.Second):
		t.Fatal("restart did not finish")
	}
	sqlExec(t, s, fmt.Sprintf("INSERT INTO %s (title) VALUES ('after')", table))
	want := []string{"before", "during-0", "during-1", "during-2", "after"}
	for len(titles) < len(want) {
		take()
	}
	if !slices.Equal(titles, want) {
		t.Fatalf("titles %v want %v", titles, want)
	}
	if !slices.IsSorted(seqs) || len(slices.Compact(slices.Clone(seqs))) != len(seqs) {
		t.Fatalf("seqs %v", seqs)
	}
	if w.Reconnects() < 1 {
		t.Fatalf("no reconnect happened")
	}
}

func TestLiveOtherTenantGetsNotFound(t *testing.T) {
	s := liveStack(t)
	a := newClient(t, s.PgsyncURL, s.TokenA)
	b := newClient(t, s.PgsyncURL, s.TokenB)
	ctx := ctxT(t, 30*time.Second)
	res, err := a.RegisterSource(ctx, SourceOptions{Table: newTable(t, s)})
	if err != nil {
		t.Fatal(err)
	}
	ref := res.GetSourceRef()
	_, err = b.GetSource(ctx, ref)
	if status.Code(err) != codes.NotFound || Reason(err) != "SOURCE_NOT_FOUND" {
		t.Fatalf("GetSource as B: %v (%s)", err, Reason(err))
	}
	if _, err := b.GetCursor(ctx, ref); status.Code(err) != codes.NotFound {
		t.Fatalf("GetCursor as B: %v", err)
	}
	if err := b.DeleteSource(ctx, ref); status.Code(err) != codes.NotFound {
		t.Fatalf("DeleteSource as B: %v", err)
	}
	w := b.WatchWakes(ctx, WatchOptions{SourceRefs: []string{ref}, Backoff: fastBackoff})
	defer w.Close()
	if _, err := w.Next(ctx); status.Code(err) != codes.NotFound {
		t.Fatalf("WatchWakes as B: %v", err)
	}
	if _, err := a.GetSource(ctx, ref); err != nil {
		t.Fatalf("GetSource as A: %v", err)
	}
}

func TestLiveMissingTokenIsUnauthenticated(t *testing.T) {
	s := liveStack(t)
	ctx := ctxT(t, 30*time.Second)
	for _, token := range []string{"", "not-a-token"} {
		c := newClient(t, s.PgsyncURL, token)
		if _, err := c.ListSources(ctx, 0, ""); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("token %q: ListSources %v", token, err)
		}
		w := c.WatchWakes(ctx, WatchOptions{SourceRefs: []string{fakeRef}, Backoff: fastBackoff})
		if _, err := w.Next(ctx); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("token %q: WatchWakes %v", token, err)
		}
		w.Close()
	}
}

func TestLiveDeleteSource(t *testing.T) {
	s := liveStack(t)
	c := newClient(t, s.PgsyncURL, s.TokenA)
	ctx := ctxT(t, 30*time.Second)
	res, err := c.RegisterSource(ctx, SourceOptions{Table: newTable(t, s)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSource(ctx, res.GetSourceRef()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSource(ctx, res.GetSourceRef()); status.Code(err) != codes.NotFound {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := c.RegisterSource(ctx, SourceOptions{Table: " "}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("blank table: %v", err)
	}
}

func TestLiveWatchCommand(t *testing.T) {
	s := liveStack(t)
	c := newClient(t, s.PgsyncURL, s.TokenA)
	table := newTable(t, s)
	ref := registerLive(t, c, table)
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "run", "./cmd/pgsync-watch", ref)
	cmd.Env = append(os.Environ(), "PGSYNC_URL="+s.PgsyncURL, "PGSYNC_TOKEN="+s.TokenA)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "[ready]") {
				ready <- sc.Text()
			}
		}
	}()
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("pgsync-watch never became ready")
	}
	sqlExec(t, s, fmt.Sprintf("INSERT INTO %s (title) VALUES ('cli')", table))
	select {
	case line := <-lines:
		var got struct {
			SourceRef string `json:"source_ref"`
			Changes   []struct {
				Op    string         `json:"op"`
				Value map[string]any `json:"value"`
			} `json:"changes"`
		}
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if got.SourceRef != ref || len(got.Changes) != 1 || got.Changes[0].Op != "insert" || got.Changes[0].Value["title"] != "cli" {
			t.Fatalf("line %s", line)
		}
	case <-ctx.Done():
		t.Fatal("no wake line")
	}
}
