import Foundation
import SequentStore

/// What a `sequent serve` replica or `sequent worker` of a cluster holds: the three storage protocols, all on one
/// PostgreSQL database.
public enum ClusterStores {
    /// Connects to `url` (applying pending migrations), caches artifacts under `cacheDirectory`, and listens for
    /// other processes' events. `worker` names this process in its event messages (readable in the database's
    /// notifications); claims name their own worker.
    public static func open(url: String, cacheDirectory: URL, worker: WorkerIdentity) throws
        -> (store: any ServiceStore, artifacts: any ArtifactStore, events: any EventBus) {
        let store = try PostgresStore(url: url)
        return (store: store,
                artifacts: try PostgresArtifactStore(store: store, cacheDirectory: cacheDirectory),
                events: try PostgresEventBus(store: store, originPrefix: "\(worker.id)@\(worker.host):\(worker.pid)"))
    }
}
