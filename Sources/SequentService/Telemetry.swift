import Foundation
import SequentStore

/// Request counters and latency histograms for `/metrics`, in Prometheus's text exposition format.
public final class Telemetry: @unchecked Sendable {
    static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    private struct Key: Hashable { var method: String; var route: String; var status: Int }
    private struct Histogram { var counts = [Int](repeating: 0, count: Telemetry.buckets.count); var sum = 0.0; var count = 0 }

    private let lock = NSLock()
    private var requests: [Key: Int] = [:]
    private var latency: [String: Histogram] = [:]

    public init() {}

    /// Records one request; `route` is the matched pattern (not the raw path, which would explode label
    /// cardinality with ids).
    public func record(method: String, route: String, status: Int, seconds: Double) {
        lock.withLock {
            requests[Key(method: method, route: route, status: status), default: 0] += 1
            var h = latency[route, default: Histogram()]
            for (i, b) in Self.buckets.enumerated() where seconds <= b { h.counts[i] += 1 }
            h.sum += seconds
            h.count += 1
            latency[route] = h
        }
    }

    /// The exposition text, with job gauges from the store and the service.
    public func render(jobs: [JobState: Int], queued: Int, samplesPerSecond: Double) -> String {
        var out = ""
        out += "# HELP sequent_http_requests_total HTTP requests by method, route and status.\n"
        out += "# TYPE sequent_http_requests_total counter\n"
        let (reqs, lat) = lock.withLock { (requests, latency) }
        for (k, v) in reqs.sorted(by: { ($0.key.route, $0.key.method, $0.key.status) < ($1.key.route, $1.key.method, $1.key.status) }) {
            out += "sequent_http_requests_total{method=\"\(k.method)\",route=\"\(Self.escape(k.route))\",status=\"\(k.status)\"} \(v)\n"
        }
        out += "# HELP sequent_http_request_duration_seconds Time to produce a response, by route.\n"
        out += "# TYPE sequent_http_request_duration_seconds histogram\n"
        for (route, h) in lat.sorted(by: { $0.key < $1.key }) {
            let r = Self.escape(route)
            for (i, b) in Self.buckets.enumerated() {
                out += "sequent_http_request_duration_seconds_bucket{route=\"\(r)\",le=\"\(b)\"} \(h.counts[i])\n"
            }
            out += "sequent_http_request_duration_seconds_bucket{route=\"\(r)\",le=\"+Inf\"} \(h.count)\n"
            out += "sequent_http_request_duration_seconds_sum{route=\"\(r)\"} \(h.sum)\n"
            out += "sequent_http_request_duration_seconds_count{route=\"\(r)\"} \(h.count)\n"
        }
        out += "# HELP sequent_jobs Jobs by state.\n# TYPE sequent_jobs gauge\n"
        for s in JobState.allCases { out += "sequent_jobs{state=\"\(s.rawValue)\"} \(jobs[s] ?? 0)\n" }
        out += "# HELP sequent_queue_depth Jobs waiting for a worker.\n# TYPE sequent_queue_depth gauge\n"
        out += "sequent_queue_depth \(queued)\n"
        out += "# HELP sequent_training_samples_per_second Training throughput of running jobs.\n"
        out += "# TYPE sequent_training_samples_per_second gauge\n"
        out += "sequent_training_samples_per_second \(samplesPerSecond)\n"
        return out
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }
}
