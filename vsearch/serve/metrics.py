"""Prometheus metrics of one server (its own registry): requests and errors by route and status, a
latency histogram, requests in flight, and per collection its generation, the seconds since it
was last checked for a newer one, and the text-query cache."""
from __future__ import annotations

from typing import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, collections: Callable[[], Iterable]):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("vsearch_http_requests_total", "HTTP requests answered",
                                ["route", "method", "status"], registry=self.registry)
        self.errors = Counter("vsearch_http_errors_total", "HTTP requests answered with a 4xx or 5xx status",
                              ["route", "status"], registry=self.registry)
        self.latency = Histogram("vsearch_http_request_seconds", "Time from a request's first byte to its response",
                                 ["route"], buckets=BUCKETS, registry=self.registry)
        self.in_flight = Gauge("vsearch_http_requests_in_flight", "Requests being answered", registry=self.registry)
        self.registry.register(_CollectionCollector(collections))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)
        if status >= 400:
            self.errors.labels(route, str(status)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _CollectionCollector:
    """Read at scrape time from the served collections (nothing to keep in step)."""

    def __init__(self, collections: Callable[[], Iterable]):
        self._collections = collections

    def describe(self):
        return []

    def collect(self):
        gen = GaugeMetricFamily("vsearch_collection_generation", "Generation each collection serves", labels=["collection"])
        images = GaugeMetricFamily("vsearch_collection_images", "Images in the generation served", labels=["collection"])
        failing = GaugeMetricFamily("vsearch_collection_reload_failing",
                                    "1 while the newest generation cannot be loaded (the previous one is served)",
                                    labels=["collection"])
        hits = CounterMetricFamily("vsearch_text_cache_hits", "Text queries answered from the vector cache", labels=["collection"])
        misses = CounterMetricFamily("vsearch_text_cache_misses", "Text queries encoded", labels=["collection"])
        for col in self._collections():
            view = col.snapshot()
            gen.add_metric([col.name], view.generation)
            images.add_metric([col.name], view.store.manifest.counts.get("images", 0))
            failing.add_metric([col.name], 1 if col.reload_error else 0)
            stats = col.text_cache_stats
            hits.add_metric([col.name], stats["hits"])
            misses.add_metric([col.name], stats["misses"])
        yield from (gen, images, failing, hits, misses)
