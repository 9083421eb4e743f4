//! The headless Service `<name>-workers`: with the pods' hostname + subdomain it
//! gives every worker a stable DNS name `<name>-workers-<rank>.<name>-workers`.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta::{child_meta, selector_labels};
use crate::spec::JobPlan;

/// Builds the headless Service.
pub fn build(plan: &JobPlan) -> Service {
    Service {
        metadata: child_meta(plan, plan.service_name()),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(selector_labels(plan)),
            // Workers must resolve each other before they are ready (rendezvous).
            publish_not_ready_addresses: Some(true),
            ports: Some(vec![ServicePort {
                name: Some("rendezvous".into()),
                port: i32::from(plan.master_port),
                target_port: Some(IntOrString::Int(i32::from(plan.master_port))),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::fixtures::seed;

    #[test]
    fn headless_service_selects_workers() {
        let svc = build(&seed());
        assert_eq!(svc.metadata.name.as_deref(), Some("test-job-workers"));
        let spec = svc.spec.unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec.publish_not_ready_addresses, Some(true));
        let sel = spec.selector.unwrap();
        assert_eq!(sel["training.mlfleet.io/job-name"], "test-job");
        assert_eq!(spec.ports.unwrap()[0].port, 29500);
    }
}
