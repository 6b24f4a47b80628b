#include "distinct.h"

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
