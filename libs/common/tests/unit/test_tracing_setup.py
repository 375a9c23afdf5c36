"""Tracing configured the way operators configure OpenTelemetry: the standard OTEL_* variables, SmartSlot's older
settings as aliases, the standard ones winning where both are set."""

from __future__ import annotations

import importlib.metadata

import pytest

from smartslot_common.tracing import resolve_tracing

VERSION = importlib.metadata.version("smartslot-booking")


def test_nothing_configured_exports_nothing_and_names_the_service_and_its_version() -> None:
    setup = resolve_tracing("booking", environ={})

    assert setup.traces_endpoint is None
    assert (setup.sampler, setup.sampler_arg) == ("parentbased_traceidratio", 1.0)
    assert setup.resource == {"service.name": "smartslot-booking", "service.version": VERSION}


def test_smartslot_settings_alone_still_work() -> None:
    setup = resolve_tracing("booking", "http://jaeger:4318/", 0.25, environment="staging", environ={})

    assert setup.traces_endpoint == "http://jaeger:4318/v1/traces"
    assert (setup.sampler, setup.sampler_arg) == ("parentbased_traceidratio", 0.25)
    assert setup.resource["deployment.environment.name"] == "staging"


def test_the_standard_variables_win_over_smartslot_settings() -> None:
    setup = resolve_tracing("booking", "http://jaeger:4318", 0.25, environment="staging", environ={
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example:4318",
        "OTEL_SERVICE_NAME": "booking-eu",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=production, service.namespace=smartslot,"
                                    "k8s.pod.name=booking-7d%2C1",
        "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.05",
    })

    assert setup.traces_endpoint == "https://collector.example:4318/v1/traces"
    assert (setup.sampler, setup.sampler_arg) == ("traceidratio", 0.05)
    assert setup.resource == {
        "service.name": "booking-eu", "service.version": VERSION, "deployment.environment.name": "production",
        "service.namespace": "smartslot", "k8s.pod.name": "booking-7d,1",
    }


def test_service_name_from_resource_attributes_yields_to_otel_service_name() -> None:
    attributes = {"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attributes"}

    assert resolve_tracing("waitlist", environ=attributes).service_name == "from-attributes"
    assert resolve_tracing("waitlist", environ=attributes | {"OTEL_SERVICE_NAME": "named"}).service_name == "named"


def test_a_signal_specific_endpoint_is_used_as_given() -> None:
    setup = resolve_tracing("booking", "http://jaeger:4318", environ={
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://base:4318",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4318/custom/path",
    })

    assert setup.traces_endpoint == "http://traces:4318/custom/path"


@pytest.mark.parametrize("environ", [{"OTEL_SDK_DISABLED": "true"}, {"OTEL_TRACES_EXPORTER": "none"}])
def test_export_can_be_switched_off_the_standard_way(environ: dict[str, str]) -> None:
    environ = environ | {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}

    assert resolve_tracing("booking", "http://jaeger:4318", environ=environ).traces_endpoint is None


def test_the_sampler_argument_alone_overrides_the_smartslot_ratio_and_a_named_sampler_defaults_to_all() -> None:
    assert resolve_tracing("booking", None, 0.5, environ={"OTEL_TRACES_SAMPLER_ARG": "0.1"}).sampler_arg == 0.1
    named = resolve_tracing("booking", None, 0.5, environ={"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"})
    assert named.sampler_arg == 1.0
    assert resolve_tracing("booking", None, 0.5, environ={"OTEL_TRACES_SAMPLER": "ALWAYS_ON"}).sampler == "always_on"


@pytest.mark.parametrize(("environ", "named"), [
    ({"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "OTEL_TRACES_SAMPLER"),
    ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, "OTEL_TRACES_SAMPLER_ARG"),
    ({"OTEL_TRACES_SAMPLER_ARG": "half"}, "OTEL_TRACES_SAMPLER_ARG"),
])
def test_a_sampler_that_is_not_one_is_refused_naming_the_variable(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        resolve_tracing("booking", environ=environ)


def test_the_environment_setting_is_read_from_smartslot_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from smartslot_common.settings import ServiceSettings

    monkeypatch.setenv("SMARTSLOT_ENVIRONMENT", "staging")

    assert ServiceSettings().environment == "staging"
