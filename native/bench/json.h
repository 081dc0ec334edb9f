// A minimal JSON value for the native bench tools' reports: objects keep insertion order, numbers
// are integers or doubles (non-finite doubles print as null), output is indented text. Writing
// only; the tools never parse JSON.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rt::bench {

class Json {
 public:
  enum class Kind { Null, Bool, Int, Double, String, Array, Object };

  Json() = default;
  Json(bool b) : kind_(Kind::Bool), b_(b) {}
  Json(int v) : kind_(Kind::Int), i_(v) {}
  Json(long v) : kind_(Kind::Int), i_(v) {}
  Json(long long v) : kind_(Kind::Int), i_(v) {}
  Json(unsigned v) : kind_(Kind::Int), i_(v) {}
  Json(unsigned long v) : kind_(Kind::Int), i_(static_cast<long long>(v)) {}
  Json(unsigned long long v) : kind_(Kind::Int), i_(static_cast<long long>(v)) {}
  Json(double v) : kind_(Kind::Double), d_(v) {}
  Json(const char* s) : kind_(Kind::String), s_(s) {}
  Json(std::string s) : kind_(Kind::String), s_(std::move(s)) {}

  static Json object() { Json j; j.kind_ = Kind::Object; return j; }
  static Json array() { Json j; j.kind_ = Kind::Array; return j; }
  template <class T>
  static Json array_of(const std::vector<T>& xs) {
    Json j = array();
    for (const T& x : xs) j.push(Json(x));
    return j;
  }

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::Null; }
  bool as_bool() const { return kind_ == Kind::Bool && b_; }

  // Object: sets key (replacing an existing one in place). Returns *this for chaining.
  Json& set(const std::string& key, Json v) {
    kind_ = Kind::Object;
    for (auto& kv : members_)
      if (kv.first == key) {
        kv.second = std::move(v);
        return *this;
      }
    members_.emplace_back(key, std::move(v));
    return *this;
  }
  Json& push(Json v) {
    kind_ = Kind::Array;
    items_.push_back(std::move(v));
    return *this;
  }
  const Json* get(const std::string& key) const {
    for (const auto& kv : members_)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }

  std::string dump(int indent = 1) const {
    std::string out;
    write(out, indent, 0);
    return out;
  }

 private:
  static void quote(std::string& out, const std::string& s) {
    out += '"';
    for (unsigned char c : s) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out += static_cast<char>(c);
          }
      }
    }
    out += '"';
  }

  void write(std::string& out, int indent, int depth) const {
    const std::string pad = indent > 0 ? "\n" + std::string(static_cast<size_t>(indent) * (depth + 1), ' ') : "";
    const std::string end = indent > 0 ? "\n" + std::string(static_cast<size_t>(indent) * depth, ' ') : "";
    char buf[64];
    switch (kind_) {
      case Kind::Null: out += "null"; break;
      case Kind::Bool: out += b_ ? "true" : "false"; break;
      case Kind::Int: out += std::to_string(i_); break;
      case Kind::Double:
        if (!std::isfinite(d_)) {
          out += "null";
        } else {
          std::snprintf(buf, sizeof buf, "%.6g", d_);
          out += buf;
        }
        break;
      case Kind::String: quote(out, s_); break;
      case Kind::Array:
        out += '[';
        for (size_t k = 0; k < items_.size(); ++k) {
          out += k ? "," + pad : pad;
          items_[k].write(out, indent, depth + 1);
        }
        out += items_.empty() ? "]" : end + "]";
        break;
      case Kind::Object:
        out += '{';
        for (size_t k = 0; k < members_.size(); ++k) {
          out += k ? "," + pad : pad;
          quote(out, members_[k].first);
          out += indent > 0 ? ": " : ":";
          members_[k].second.write(out, indent, depth + 1);
        }
        out += members_.empty() ? "}" : end + "}";
        break;
    }
  }

  Kind kind_ = Kind::Null;
  bool b_ = false;
  long long i_ = 0;
  double d_ = 0;
  std::string s_;
  std::vector<Json> items_;
  std::vector<std::pair<std::string, Json>> members_;
};

}  // namespace rt::bench
