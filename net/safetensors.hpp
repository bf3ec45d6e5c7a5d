// lanes net: reading and writing safetensors files.
//
// The format: an 8-byte little-endian header length N, N bytes of JSON, then the data. The JSON maps
// each tensor name to {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, offsets relative
// to the start of the data; an optional "__metadata__" entry maps strings to strings.
//
// safetensors_file reads and checks the header only; tensors are read one at a time, on request, so
// a network's weights never sit in memory twice. Every check names the file and the tensor:
//   the file is shorter than 8 bytes; N is beyond the file; the header is not a JSON object; an entry
//   lacks dtype, shape or data_offsets or has a wrong type; an unknown dtype; a negative dimension;
//   begin > end; end beyond the data; end - begin differs from the shape's byte size; two tensors
//   overlap.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "../kernels/error.hpp"

namespace lanes::net {

struct safetensors_entry {
    std::string dtype;
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0, end = 0;  // byte offsets in the data section
};

inline std::int64_t safetensors_dtype_size(const std::string& dtype) {
    static const std::map<std::string, std::int64_t> sizes = {
        {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
        {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8}};
    const auto it = sizes.find(dtype);
    return it == sizes.end() ? 0 : it->second;
}

inline std::string shape_string(const std::vector<std::int64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

class safetensors_file {
public:
    // Largest header accepted (the safetensors reference implementation's own limit).
    static constexpr std::uint64_t max_header_bytes = 100'000'000;

    explicit safetensors_file(std::string path) : path_(std::move(path)) {
        file_.open(path_, std::ios::binary);
        if (!file_) fail(path_, ": cannot open the weights file");
        file_.seekg(0, std::ios::end);
        const std::uint64_t size = static_cast<std::uint64_t>(file_.tellg());
        file_.seekg(0);
        if (size < 8) fail(path_, ": ", size, " bytes is too short for a safetensors file (8-byte header length first)");
        unsigned char length_bytes[8];
        file_.read(reinterpret_cast<char*>(length_bytes), 8);
        std::uint64_t header_bytes = 0;
        for (int i = 7; i >= 0; --i) header_bytes = header_bytes << 8 | length_bytes[i];
        if (header_bytes > size - 8)
            fail(path_, ": the header length ", header_bytes, " goes beyond the end of the file (", size, " bytes)");
        if (header_bytes > max_header_bytes) fail(path_, ": the header length ", header_bytes, " exceeds ", max_header_bytes, " bytes");
        data_start_ = 8 + header_bytes;
        data_bytes_ = size - data_start_;

        std::string text(static_cast<std::size_t>(header_bytes), '\0');
        file_.read(text.data(), static_cast<std::streamsize>(header_bytes));
        if (!file_) fail(path_, ": cannot read the header");
        nlohmann::json header = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (header.is_discarded()) fail(path_, ": the header is not valid JSON");
        if (!header.is_object()) fail(path_, ": the header is not a JSON object");
        for (auto& [name, value] : header.items()) {
            if (name == "__metadata__") continue;
            entries_[name] = parse_entry(name, value);
        }
        check_overlaps();
    }

    const std::string& path() const { return path_; }
    const std::map<std::string, safetensors_entry>& entries() const { return entries_; }

    // Reads the bytes of tensor `name` into `out` (exactly end - begin bytes).
    void read(const std::string& name, void* out, std::uint64_t bytes) {
        const auto it = entries_.find(name);
        if (it == entries_.end()) fail(path_, ": no tensor '", name, "'");
        const safetensors_entry& e = it->second;
        if (e.end - e.begin != bytes) fail(path_, ": tensor '", name, "' holds ", e.end - e.begin, " bytes, not ", bytes);
        file_.clear();
        file_.seekg(static_cast<std::streamoff>(data_start_ + e.begin));
        file_.read(static_cast<char*>(out), static_cast<std::streamsize>(bytes));
        if (!file_) fail(path_, ": cannot read tensor '", name, "'");
    }

private:
    safetensors_entry parse_entry(const std::string& name, const nlohmann::json& value) const {
        auto bad = [&](const auto&... why) { fail(path_, ": tensor '", name, "': ", why...); };
        if (!value.is_object()) bad("the entry is not a JSON object");
        for (const char* field : {"dtype", "shape", "data_offsets"})
            if (!value.contains(field)) bad("no \"", field, "\"");
        safetensors_entry e;
        if (!value["dtype"].is_string()) bad("\"dtype\" is not a string");
        e.dtype = value["dtype"].get<std::string>();
        const std::int64_t element_bytes = safetensors_dtype_size(e.dtype);
        if (element_bytes == 0) bad("unknown dtype \"", e.dtype, "\"");
        if (!value["shape"].is_array()) bad("\"shape\" is not an array");
        std::uint64_t elements = 1;
        for (const nlohmann::json& d : value["shape"]) {
            if (!d.is_number_integer() || d.get<std::int64_t>() < 0) bad("the shape ", value["shape"].dump(), " has a dimension that is not a non-negative integer");
            e.shape.push_back(d.get<std::int64_t>());
            if (__builtin_mul_overflow(elements, static_cast<std::uint64_t>(e.shape.back()), &elements))
                bad("the shape ", shape_string(e.shape), " overflows");
        }
        const nlohmann::json& offsets = value["data_offsets"];
        if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
            bad("\"data_offsets\" is not a pair of non-negative integers");
        e.begin = offsets[0].get<std::uint64_t>();
        e.end = offsets[1].get<std::uint64_t>();
        if (e.begin > e.end) bad("data_offsets [", e.begin, ", ", e.end, "] end before they begin");
        if (e.end > data_bytes_) bad("data_offsets [", e.begin, ", ", e.end, "] reach beyond the data (", data_bytes_, " bytes)");
        std::uint64_t needed = 0;
        if (__builtin_mul_overflow(elements, static_cast<std::uint64_t>(element_bytes), &needed) || needed != e.end - e.begin)
            bad("data_offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin, " bytes but ", e.dtype, " ",
                shape_string(e.shape), " needs ", elements * static_cast<std::uint64_t>(element_bytes));
        return e;
    }

    void check_overlaps() const {
        std::vector<std::pair<const std::string*, const safetensors_entry*>> by_start;
        for (const auto& [name, e] : entries_)
            if (e.end > e.begin) by_start.push_back({&name, &e});
        std::sort(by_start.begin(), by_start.end(), [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
        for (std::size_t i = 1; i < by_start.size(); ++i)
            if (by_start[i].second->begin < by_start[i - 1].second->end)
                fail(path_, ": tensors '", *by_start[i - 1].first, "' and '", *by_start[i].first, "' overlap in the data");
    }

    std::string path_;
    std::ifstream file_;
    std::uint64_t data_start_ = 0, data_bytes_ = 0;
    std::map<std::string, safetensors_entry> entries_;
};

// Writes F32 tensors (name, shape, data) as a safetensors file: `lanes run --dump` and the tests.
struct safetensors_tensor {
    std::string name;
    std::vector<std::int64_t> shape;
    const float* data;
};

inline void write_safetensors(const std::string& path, const std::vector<safetensors_tensor>& tensors) {
    nlohmann::json header = nlohmann::json::object();
    std::uint64_t offset = 0;
    for (const safetensors_tensor& t : tensors) {
        std::uint64_t bytes = 4;
        for (std::int64_t d : t.shape) bytes *= static_cast<std::uint64_t>(d);
        header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
    std::ofstream out(path, std::ios::binary);
    if (!out) fail(path, ": cannot create the file");
    unsigned char length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(text.size()) >> (8 * i));
    out.write(reinterpret_cast<const char*>(length), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const safetensors_tensor& t : tensors) {
        std::uint64_t count = 1;
        for (std::int64_t d : t.shape) count *= static_cast<std::uint64_t>(d);
        out.write(reinterpret_cast<const char*>(t.data), static_cast<std::streamsize>(count * 4));
    }
    if (!out) fail(path, ": write failed");
}

}  // namespace lanes::net
