import CHDF5
import Foundation

/// Why a model file could not be read or written. `message` is written for the person who sent the file.
public struct InterchangeError: Error, Sendable, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An HDF5 file through libhdf5 (Debian's build is thread-safe): the groups, float32 datasets and string
/// attributes that Keras's `.weights.h5` is made of, nothing more. Paths are `/`-separated from the root.
final class HDF5File {
    private let id: hid_t

    private init(id: hid_t) { self.id = id }

    deinit { H5Fclose(id) }

    private static let silenced: Void = { sequent_h5_silence() }()

    /// Opens `url` read-only; an error says the file is not HDF5 rather than echoing the library.
    static func open(_ url: URL) throws -> HDF5File {
        _ = silenced
        guard H5Fis_hdf5(url.path) > 0 else {
            throw InterchangeError("\(url.lastPathComponent) is not an HDF5 file")
        }
        let id = H5Fopen(url.path, sequent_h5f_acc_rdonly(), sequent_h5p_default())
        guard id >= 0 else { throw InterchangeError("\(url.lastPathComponent) cannot be opened as HDF5") }
        return HDF5File(id: id)
    }

    /// Creates (or truncates) `url`.
    static func create(_ url: URL) throws -> HDF5File {
        _ = silenced
        let id = H5Fcreate(url.path, sequent_h5f_acc_trunc(), sequent_h5p_default(), sequent_h5p_default())
        guard id >= 0 else { throw InterchangeError("cannot create \(url.lastPathComponent)") }
        return HDF5File(id: id)
    }

    /// Whether every component of `path` exists (H5Lexists needs each parent to exist first).
    func exists(_ path: String) -> Bool {
        var prefix = ""
        for part in path.split(separator: "/") {
            prefix += (prefix.isEmpty ? "" : "/") + part
            guard H5Lexists(id, prefix, sequent_h5p_default()) > 0 else { return false }
        }
        return true
    }

    /// The names of the links in group `path`, in name order.
    func children(_ path: String) throws -> [String] {
        let group = H5Gopen2(id, path, sequent_h5p_default())
        guard group >= 0 else { throw InterchangeError("\(path) is not a group") }
        defer { H5Gclose(group) }
        var info = H5G_info_t()
        guard H5Gget_info(group, &info) >= 0 else { throw InterchangeError("\(path) cannot be listed") }
        return try (0..<Int(info.nlinks)).map { i in
            let length = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(i), nil, 0, sequent_h5p_default())
            guard length >= 0 else { throw InterchangeError("\(path) cannot be listed") }
            var name = [CChar](repeating: 0, count: Int(length) + 1)
            H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(i), &name, name.count, sequent_h5p_default())
            return String(decoding: name.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// The shape of dataset `path`.
    func shape(_ path: String) throws -> [Int] {
        let dataset = H5Dopen2(id, path, sequent_h5p_default())
        guard dataset >= 0 else { throw InterchangeError("\(path) is not a dataset") }
        defer { H5Dclose(dataset) }
        return try Self.shape(of: dataset, path)
    }

    private static func shape(of dataset: hid_t, _ path: String) throws -> [Int] {
        let space = H5Dget_space(dataset)
        defer { H5Sclose(space) }
        let rank = H5Sget_simple_extent_ndims(space)
        guard rank >= 0, rank <= 32 else { throw InterchangeError("\(path) has no simple shape") }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        H5Sget_simple_extent_dims(space, &dims, nil)
        return dims.map { Int($0) }
    }

    /// Dataset `path` as float32 (libhdf5 converts float16 and float64 on the way), when its shape is `expected`.
    /// The shape is checked before anything is read, so a hostile file cannot make the reader allocate at will.
    func readFloats(_ path: String, expected: [Int]) throws -> [Float] {
        let dataset = H5Dopen2(id, path, sequent_h5p_default())
        guard dataset >= 0 else { throw InterchangeError("\(path) is not a dataset") }
        defer { H5Dclose(dataset) }
        let shape = try Self.shape(of: dataset, path)
        // A scalar is stored with rank 0; a shape of one element matches it.
        guard shape == expected || (shape.isEmpty && expected.reduce(1, *) == 1) else {
            throw InterchangeError("\(path) has shape \(shape), the layer needs \(expected)")
        }
        let type = H5Dget_type(dataset)
        defer { H5Tclose(type) }
        guard H5Tget_class(type) == H5T_FLOAT else { throw InterchangeError("\(path) does not hold floating-point numbers") }
        var values = [Float](repeating: 0, count: expected.reduce(1, *))
        let status = values.withUnsafeMutableBytes {
            H5Dread(dataset, sequent_h5t_native_float(), sequent_h5s_all(), sequent_h5s_all(), sequent_h5p_default(), $0.baseAddress)
        }
        guard status >= 0 else { throw InterchangeError("\(path) cannot be read") }
        return values
    }

    /// Creates group `path` and any missing parents.
    func createGroup(_ path: String) throws {
        guard !exists(path) else { return }
        let lcpl = H5Pcreate(sequent_h5p_link_create())
        defer { H5Pclose(lcpl) }
        H5Pset_create_intermediate_group(lcpl, 1)
        let group = H5Gcreate2(id, path, lcpl, sequent_h5p_default(), sequent_h5p_default())
        guard group >= 0 else { throw InterchangeError("cannot create group \(path)") }
        H5Gclose(group)
    }

    /// Writes `values` as a float32 dataset of `shape` at `path` (parents created).
    func writeFloats(_ path: String, shape: [Int], values: [Float]) throws {
        precondition(shape.reduce(1, *) == values.count, "\(path): \(values.count) values for shape \(shape)")
        let lcpl = H5Pcreate(sequent_h5p_link_create())
        defer { H5Pclose(lcpl) }
        H5Pset_create_intermediate_group(lcpl, 1)
        let dims = shape.map { hsize_t($0) }
        let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil)
        defer { H5Sclose(space) }
        let dataset = H5Dcreate2(id, path, sequent_h5t_native_float(), space, lcpl, sequent_h5p_default(), sequent_h5p_default())
        guard dataset >= 0 else { throw InterchangeError("cannot create dataset \(path)") }
        defer { H5Dclose(dataset) }
        let status = values.withUnsafeBytes {
            H5Dwrite(dataset, sequent_h5t_native_float(), sequent_h5s_all(), sequent_h5s_all(), sequent_h5p_default(), $0.baseAddress)
        }
        guard status >= 0 else { throw InterchangeError("cannot write dataset \(path)") }
    }

    /// Sets a variable-length UTF-8 string attribute `name` on the object at `path` (h5py's form for `str`).
    func setStringAttribute(_ path: String, name: String, value: String) throws {
        let object = H5Oopen(id, path, sequent_h5p_default())
        guard object >= 0 else { throw InterchangeError("cannot open \(path)") }
        defer { H5Oclose(object) }
        let type = H5Tcopy(sequent_h5t_c_s1())
        defer { H5Tclose(type) }
        H5Tset_size(type, Int(bitPattern: UInt(bitPattern: -1)))   // H5T_VARIABLE
        H5Tset_cset(type, H5T_CSET_UTF8)
        let space = H5Screate(H5S_SCALAR)
        defer { H5Sclose(space) }
        let attribute = H5Acreate2(object, name, type, space, sequent_h5p_default(), sequent_h5p_default())
        guard attribute >= 0 else { throw InterchangeError("cannot create attribute \(name) on \(path)") }
        defer { H5Aclose(attribute) }
        let status = value.withCString { pointer -> herr_t in
            var p: UnsafePointer<CChar>? = pointer
            return H5Awrite(attribute, type, &p)
        }
        guard status >= 0 else { throw InterchangeError("cannot write attribute \(name) on \(path)") }
    }
}
