// Command keda-client queries an external scaler with the client KEDA itself uses
// (github.com/kedacore/keda/v2/pkg/scalers/externalscaler) and prints what KEDA
// would read: IsActive, the metric spec and the metric value, as one JSON object.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

type metricSpec struct {
	MetricName      string  `json:"metricName"`
	TargetSize      int64   `json:"targetSize"`
	TargetSizeFloat float64 `json:"targetSizeFloat"`
}

type metricValue struct {
	MetricName       string  `json:"metricName"`
	MetricValue      int64   `json:"metricValue"`
	MetricValueFloat float64 `json:"metricValueFloat"`
}

type report struct {
	Active  bool          `json:"active"`
	Specs   []metricSpec  `json:"specs"`
	Metrics []metricValue `json:"metrics"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9090", "scaler gRPC address (host:port)")
	name := flag.String("name", "workers", "ScaledObject name")
	namespace := flag.String("namespace", "default", "ScaledObject namespace")
	metadata := flag.String("metadata", "", "scaler metadata as comma-separated key=value pairs")
	flag.Parse()

	meta := map[string]string{}
	for _, kv := range strings.Split(*metadata, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			fail(fmt.Errorf("metadata entry %q is not key=value", kv))
		}
		meta[k] = v
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	client := externalscaler.NewExternalScalerClient(conn)
	ref := &externalscaler.ScaledObjectRef{Name: *name, Namespace: *namespace, ScalerMetadata: meta}

	active, err := client.IsActive(ctx, ref)
	if err != nil {
		fail(fmt.Errorf("IsActive: %w", err))
	}
	specs, err := client.GetMetricSpec(ctx, ref)
	if err != nil {
		fail(fmt.Errorf("GetMetricSpec: %w", err))
	}
	out := report{Active: active.GetResult()}
	for _, s := range specs.GetMetricSpecs() {
		out.Specs = append(out.Specs, metricSpec{s.GetMetricName(), s.GetTargetSize(), s.GetTargetSizeFloat()})
		metrics, err := client.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref, MetricName: s.GetMetricName()})
		if err != nil {
			fail(fmt.Errorf("GetMetrics %s: %w", s.GetMetricName(), err))
		}
		for _, m := range metrics.GetMetricValues() {
			out.Metrics = append(out.Metrics, metricValue{m.GetMetricName(), m.GetMetricValue(), m.GetMetricValueFloat()})
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "keda-client:", err)
	os.Exit(1)
}
