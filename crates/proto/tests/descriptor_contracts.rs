//! Contract checks on the compiled descriptor set: every service is present (so
//! server reflection can describe it), and the `externalscaler` package matches
//! KEDA v2's published contract field by field. The expected KEDA table below is
//! transcribed from kedacore/keda `pkg/scalers/externalscaler/externalscaler.proto`,
//! not derived from our copy, so a drift in our file fails here.

use mlfleet_proto::FILE_DESCRIPTOR_SET;
use prost::Message;
use prost_types::{
    FileDescriptorProto, FileDescriptorSet,
    field_descriptor_proto::{Label, Type},
};

/// One field as compared: name, number, type, repeated, message type name.
type FieldRow = (&'static str, i32, Type, bool, &'static str);

fn descriptor_set() -> FileDescriptorSet {
    FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("embedded descriptor set decodes")
}

fn file_of_package<'a>(set: &'a FileDescriptorSet, package: &str) -> &'a FileDescriptorProto {
    set.file
        .iter()
        .find(|f| f.package() == package)
        .unwrap_or_else(|| panic!("package {package} missing from descriptor set"))
}

#[test]
fn every_service_is_in_the_descriptor_set() {
    let set = descriptor_set();
    let expected = [
        ("mlfleet.gpu.v1", "GpuAgent", 2),
        ("mlfleet.scheduling.v1", "SchedulingState", 4),
        ("mlfleet.training.v1", "TrainingProgress", 2),
        ("mlfleet.queue.v1", "QueueDepth", 2),
        ("mlfleet.ingest.v1", "StdfWork", 4),
        ("externalscaler", "ExternalScaler", 5),
    ];
    for (package, service, methods) in expected {
        let file = file_of_package(&set, package);
        let svc = file
            .service
            .iter()
            .find(|s| s.name() == service)
            .unwrap_or_else(|| panic!("{package}.{service} missing"));
        assert_eq!(
            svc.method.len(),
            methods,
            "{package}.{service} method count"
        );
    }
}

#[test]
fn generated_service_names_are_fully_qualified() {
    use mlfleet_proto::{externalscaler, gpu, ingest, queue, scheduling, training};
    assert_eq!(
        gpu::v1::gpu_agent_server::SERVICE_NAME,
        "mlfleet.gpu.v1.GpuAgent"
    );
    assert_eq!(
        scheduling::v1::scheduling_state_server::SERVICE_NAME,
        "mlfleet.scheduling.v1.SchedulingState"
    );
    assert_eq!(
        training::v1::training_progress_server::SERVICE_NAME,
        "mlfleet.training.v1.TrainingProgress"
    );
    assert_eq!(
        queue::v1::queue_depth_server::SERVICE_NAME,
        "mlfleet.queue.v1.QueueDepth"
    );
    assert_eq!(
        ingest::v1::stdf_work_server::SERVICE_NAME,
        "mlfleet.ingest.v1.StdfWork"
    );
    assert_eq!(
        externalscaler::external_scaler_server::SERVICE_NAME,
        "externalscaler.ExternalScaler"
    );
}

#[test]
fn external_scaler_methods_match_keda() {
    let set = descriptor_set();
    let file = file_of_package(&set, "externalscaler");
    let service = &file.service[0];
    assert_eq!(service.name(), "ExternalScaler");
    let got: Vec<_> = service
        .method
        .iter()
        .map(|m| {
            (
                m.name(),
                m.input_type(),
                m.output_type(),
                m.client_streaming(),
                m.server_streaming(),
            )
        })
        .collect();
    let want = vec![
        (
            "IsActive",
            ".externalscaler.ScaledObjectRef",
            ".externalscaler.IsActiveResponse",
            false,
            false,
        ),
        (
            "StreamIsActive",
            ".externalscaler.ScaledObjectRef",
            ".externalscaler.IsActiveResponse",
            false,
            true,
        ),
        (
            "GetMetricSpec",
            ".externalscaler.ScaledObjectRef",
            ".externalscaler.GetMetricSpecResponse",
            false,
            false,
        ),
        (
            "GetMetrics",
            ".externalscaler.GetMetricsRequest",
            ".externalscaler.GetMetricsResponse",
            false,
            false,
        ),
        (
            "StreamMetricSpec",
            ".externalscaler.ScaledObjectRef",
            ".externalscaler.GetMetricSpecResponse",
            false,
            true,
        ),
    ];
    assert_eq!(got, want);
}

#[test]
fn external_scaler_messages_match_keda_field_by_field() {
    let set = descriptor_set();
    let file = file_of_package(&set, "externalscaler");
    // (message, [(field, number, type, repeated, type name)])
    let want: Vec<(&str, Vec<FieldRow>)> = vec![
        (
            "ScaledObjectRef",
            vec![
                ("name", 1, Type::String, false, ""),
                ("namespace", 2, Type::String, false, ""),
                (
                    "scalerMetadata",
                    3,
                    Type::Message,
                    true,
                    ".externalscaler.ScaledObjectRef.ScalerMetadataEntry",
                ),
            ],
        ),
        (
            "IsActiveResponse",
            vec![("result", 1, Type::Bool, false, "")],
        ),
        (
            "GetMetricSpecResponse",
            vec![(
                "metricSpecs",
                1,
                Type::Message,
                true,
                ".externalscaler.MetricSpec",
            )],
        ),
        (
            "MetricSpec",
            vec![
                ("metricName", 1, Type::String, false, ""),
                ("targetSize", 2, Type::Int64, false, ""),
                ("targetSizeFloat", 3, Type::Double, false, ""),
            ],
        ),
        (
            "GetMetricsRequest",
            vec![
                (
                    "scaledObjectRef",
                    1,
                    Type::Message,
                    false,
                    ".externalscaler.ScaledObjectRef",
                ),
                ("metricName", 2, Type::String, false, ""),
            ],
        ),
        (
            "GetMetricsResponse",
            vec![(
                "metricValues",
                1,
                Type::Message,
                true,
                ".externalscaler.MetricValue",
            )],
        ),
        (
            "MetricValue",
            vec![
                ("metricName", 1, Type::String, false, ""),
                ("metricValue", 2, Type::Int64, false, ""),
                ("metricValueFloat", 3, Type::Double, false, ""),
            ],
        ),
    ];
    assert_eq!(
        file.message_type.len(),
        want.len(),
        "externalscaler must define exactly KEDA's messages"
    );
    for (message, fields) in want {
        let msg = file
            .message_type
            .iter()
            .find(|m| m.name() == message)
            .unwrap_or_else(|| panic!("message {message} missing"));
        let got: Vec<_> = msg
            .field
            .iter()
            .map(|f| {
                (
                    f.name(),
                    f.number(),
                    f.r#type(),
                    f.label() == Label::Repeated,
                    f.type_name(),
                )
            })
            .collect();
        assert_eq!(got, fields, "message {message}");
    }
    // The scalerMetadata map is map<string, string>.
    let entry = &file
        .message_type
        .iter()
        .find(|m| m.name() == "ScaledObjectRef")
        .expect("ScaledObjectRef")
        .nested_type[0];
    assert!(entry.options.as_ref().is_some_and(|o| o.map_entry()));
    let kv: Vec<_> = entry
        .field
        .iter()
        .map(|f| (f.name(), f.number(), f.r#type()))
        .collect();
    assert_eq!(
        kv,
        vec![("key", 1, Type::String), ("value", 2, Type::String)]
    );
}
