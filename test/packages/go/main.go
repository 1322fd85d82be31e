// Runs with `go run` in a fresh module whose go.mod replaces the client module with the
// repository's copy (no server).
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pg-sync/pg-sync/clients/go/pgsync"
	pgsyncv1 "github.com/pg-sync/pg-sync/clients/go/pgsync/gen/pgsync/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	ref, err := pgsync.SourceRef(pgsync.SourceOptions{Table: "todos"})
	if err != nil || ref != "61b724fea24ae3c5" {
		fail("source_ref %q, %v", ref, err)
	}
	value, _ := structpb.NewStruct(map[string]any{"id": 4})
	change := &pgsyncv1.Change{Operation: pgsyncv1.Operation_OPERATION_INSERT, Value: value}
	if id, ok := pgsync.Row(change)["id"].(int64); !ok || id != 4 || pgsync.OperationName(change.GetOperation()) != pgsync.OpInsert {
		fail("row %v, operation %q", pgsync.Row(change), pgsync.OperationName(change.GetOperation()))
	}
	client, err := pgsync.New("http://127.0.0.1:9", "token")
	if err != nil {
		fail("new: %v", err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream := client.WatchWakes(ctx, pgsync.WatchOptions{SourceRefs: []string{ref}, Ops: []string{"upsert"}})
	defer stream.Close()
	if _, err := stream.Next(ctx); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "Ops[0]") {
		fail("bad operation: %v", err)
	}
	fmt.Println("example ok:", ref, pgsync.OperationName(change.GetOperation()))
}
