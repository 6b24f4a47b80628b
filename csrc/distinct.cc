#include "distinct.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

namespace decoder {
namespace {

void append_code_point(uint32_t cp, std::string& out) {
  // generalised UTF-8: a lone surrogate gets its own 3-byte form
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int hex_value(uint8_t b) {
  if (b >= '0' && b <= '9') return b - '0';
  if (b >= 'a' && b <= 'f') return b - 'a' + 10;
  if (b >= 'A' && b <= 'F') return b - 'A' + 10;
  return -1;
}

}  // namespace

bool JsonStringDecoder::feed(uint8_t b, std::string& out) {
  auto flush_high = [&] {
    if (high != 0) append_code_point(high, out);
    high = 0;
  };
  switch (phase) {
    case kBefore:  // the lexer may fold the whitespace before a lexeme into its front
      if (b == ' ' || b == '\t' || b == '\n' || b == '\r') return true;
      if (b != '"') break;
      phase = kIn;
      return true;
    case kIn:
      if (b == '\\') {
        phase = kEscape;
        return true;
      }
      flush_high();
      if (b == '"')
        phase = kClosed;
      else
        out.push_back(static_cast<char>(b));  // raw UTF-8 bytes are the value's bytes
      return true;
    case kEscape: {
      char c;
      switch (b) {
        case '"':
        case '\\':
        case '/': c = static_cast<char>(b); break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u':
          phase = kHex;
          hex_digits = 0;
          unit = 0;
          return true;
        default: phase = kError; return false;
      }
      flush_high();
      out.push_back(c);
      phase = kIn;
      return true;
    }
    case kHex: {
      const int h = hex_value(b);
      if (h < 0) break;
      unit = static_cast<uint16_t>(unit * 16 + h);
      if (++hex_digits < 4) return true;
      phase = kIn;
      if (high != 0 && unit >= 0xDC00 && unit <= 0xDFFF) {
        append_code_point(0x10000 + ((uint32_t(high) - 0xD800) << 10) + (unit - 0xDC00), out);
        high = 0;
        return true;
      }
      flush_high();
      if (unit >= 0xD800 && unit <= 0xDBFF)
        high = unit;
      else
        append_code_point(unit, out);
      return true;
    }
    case kClosed:
    case kError: break;
  }
  phase = kError;
  return false;
}

std::string decode_json_string(std::string_view raw) {
  JsonStringDecoder d;
  std::string out;
  for (char c : raw)
    if (!d.feed(static_cast<uint8_t>(c), out)) break;
  return out;
}

}  // namespace decoder

namespace decoder {
namespace {

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

struct Canonical {
  std::string_view s;
  size_t i = 0;

  void skip_space() {
    while (i < s.size() && is_json_space(s[i])) ++i;
  }

  // a string lexeme from its opening quote: its decoded value
  std::string string_value() {
    JsonStringDecoder d;
    std::string v;
    while (i < s.size() && !d.closed()) {
      if (!d.feed(static_cast<uint8_t>(s[i]), v)) break;
      ++i;
    }
    return v;
  }

  static void put_string(const std::string& v, std::string& out) {
    out += 's';
    out += std::to_string(v.size());
    out += ':';
    out += v;
  }

  void number(std::string& out) {
    const size_t b = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '-' || s[i] == '+' ||
                            s[i] == '.' || s[i] == 'e' || s[i] == 'E'))
      ++i;
    const std::string lit(s.substr(b, i - b));
    if (lit.find_first_of(".eE") == std::string::npos) {  // an int: exact
      const bool neg = lit[0] == '-';
      std::string digits = lit.substr(neg ? 1 : 0);
      const size_t nz = digits.find_first_not_of('0');
      digits = nz == std::string::npos ? "0" : digits.substr(nz);
      out += 'i';
      if (neg && digits != "0") out += '-';
      out += digits;
      out += ';';
      return;
    }
    const double d = std::strtod(lit.c_str(), nullptr);  // the nearest double, as json.loads
    char buf[400];
    if (std::isinf(d)) {
      out += d > 0 ? "finf;" : "f-inf;";
    } else if (d == std::floor(d)) {  // an integral double equals the int of its value
      std::snprintf(buf, sizeof buf, "%.0f", d == 0 ? 0.0 : d);
      out += 'i';
      out += buf;
      out += ';';
    } else {
      std::snprintf(buf, sizeof buf, "%.17g", d);
      out += 'f';
      out += buf;
      out += ';';
    }
  }

  void value(std::string& out) {
    skip_space();
    if (i >= s.size()) return;
    const char c = s[i];
    if (c == '"') {
      put_string(string_value(), out);
    } else if (c == '{') {
      ++i;
      std::vector<std::pair<std::string, std::string>> members;
      for (;;) {
        skip_space();
        if (i >= s.size()) break;
        if (s[i] == '}') {
          ++i;
          break;
        }
        if (s[i] == ',') {
          ++i;
          continue;
        }
        std::string k = string_value();
        skip_space();
        if (i < s.size() && s[i] == ':') ++i;
        std::string v;
        value(v);
        members.emplace_back(std::move(k), std::move(v));
      }
      std::sort(members.begin(), members.end());
      out += 'o';
      out += std::to_string(members.size());
      out += '{';
      for (const auto& m : members) {
        put_string(m.first, out);
        out += m.second;
      }
      out += '}';
    } else if (c == '[') {
      ++i;
      std::string items;
      size_t n = 0;
      for (;;) {
        skip_space();
        if (i >= s.size()) break;
        if (s[i] == ']') {
          ++i;
          break;
        }
        if (s[i] == ',') {
          ++i;
          continue;
        }
        value(items);
        ++n;
      }
      out += 'a';
      out += std::to_string(n);
      out += '[';
      out += items;
      out += ']';
    } else if (c == 't' || c == 'f' || c == 'n') {
      out += c == 't' ? 'T' : c == 'f' ? 'F' : 'N';
      while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    } else {
      number(out);
    }
  }
};

}  // namespace

std::string canonical_json(std::string_view raw) {
  Canonical c{raw};
  // 0xFF first: never the first byte of a decoded string (no UTF-8 holds it), so a scope
  // that also holds string items never takes one for an object or array
  std::string out(1, static_cast<char>(0xFF));
  c.value(out);
  return out;
}

}  // namespace decoder
