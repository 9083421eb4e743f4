// One image per deployable, all from the same multi-stage Dockerfile.
//   docker buildx bake                 # every image
//   docker buildx bake training-operator
//   REGISTRY=ghcr.io TAG=v0.1.0 docker buildx bake --push

variable "REGISTRY" { default = "ghcr.io" }
variable "TAG" { default = "dev" }

group "default" {
  targets = ["training-operator", "serving-operator", "tuning-operator", "gpu-node-agent", "stdf-ingest-scaler"]
}

target "_common" {
  dockerfile = "Dockerfile"
  context    = "."
  platforms  = ["linux/amd64"]
}

target "training-operator" {
  inherits = ["_common"]
  args     = { BINARY = "training-operator" }
  tags     = ["${REGISTRY}/mlfleet/training-operator:${TAG}"]
}

target "serving-operator" {
  inherits = ["_common"]
  args     = { BINARY = "serving-operator" }
  tags     = ["${REGISTRY}/mlfleet/serving-operator:${TAG}"]
}

target "tuning-operator" {
  inherits = ["_common"]
  args     = { BINARY = "tuning-operator" }
  tags     = ["${REGISTRY}/mlfleet/tuning-operator:${TAG}"]
}

target "gpu-node-agent" {
  inherits = ["_common"]
  args = {
    BINARY = "gpu-node-agent"
    TARGET = "x86_64-unknown-linux-gnu"
    BASE   = "gcr.io/distroless/cc-debian12:nonroot"
  }
  tags     = ["${REGISTRY}/mlfleet/gpu-node-agent:${TAG}"]
}

target "stdf-ingest-scaler" {
  inherits = ["_common"]
  args     = { BINARY = "stdf-ingest-scaler" }
  tags     = ["${REGISTRY}/mlfleet/stdf-ingest-scaler:${TAG}"]
}
