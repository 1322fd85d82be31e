package pgsync

import (
	"math"
	"reflect"
	"testing"

	pgsyncv1 "github.com/pg-sync/pg-sync/clients/go/pgsync/gen/pgsync/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestRowKeepsIntegersAndStrings(t *testing.T) {
	value, err := structpb.NewStruct(map[string]any{
		"id": 4, "big": "9007199254740993", "price": "12.50", "ratio": 0.25, "done": true,
		"note": nil, "tags": []any{"a", 2.0}, "doc": map[string]any{"n": 3.0}, "huge": 1e300,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := Row(&pgsyncv1.Change{Value: value})
	want := map[string]any{
		"id": int64(4), "big": "9007199254740993", "price": "12.50", "ratio": 0.25, "done": true,
		"note": nil, "tags": []any{"a", int64(2)}, "doc": map[string]any{"n": int64(3)}, "huge": 1e300,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Row = %#v\nwant %#v", got, want)
	}
}

func TestRowBeyondExactIntegersStaysFloat(t *testing.T) {
	value, _ := structpb.NewStruct(map[string]any{"n": math.Pow(2, 60), "neg": -7.0})
	got := Row(&pgsyncv1.Change{Value: value})
	if _, isFloat := got["n"].(float64); !isFloat || got["neg"] != int64(-7) {
		t.Fatalf("Row = %#v", got)
	}
}

func TestOldRowAndUnsetValues(t *testing.T) {
	old, _ := structpb.NewStruct(map[string]any{"title": "before"})
	c := &pgsyncv1.Change{Operation: pgsyncv1.Operation_OPERATION_UPDATE, OldValue: old}
	if Row(c) != nil {
		t.Fatalf("Row of an unset value = %#v, want nil", Row(c))
	}
	if got := OldRow(c); !reflect.DeepEqual(got, map[string]any{"title": "before"}) {
		t.Fatalf("OldRow = %#v", got)
	}
}

func TestOperationNameRoundTrips(t *testing.T) {
	for _, name := range []string{OpInsert, OpUpdate, OpDelete} {
		op, err := ParseOperation(name)
		if err != nil || OperationName(op) != name {
			t.Fatalf("%s: op %v err %v name %q", name, op, err, OperationName(op))
		}
	}
	if OperationName(pgsyncv1.Operation_OPERATION_UNSPECIFIED) != "" || OperationName(pgsyncv1.Operation(42)) != "" {
		t.Fatal("unspecified or unknown operations must have no name")
	}
}
