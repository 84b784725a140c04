// The bytes read from a connection and not parsed yet: one block, reused for its lifetime.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>

namespace switchboard::server {

class ReadBuffer {
 public:
  explicit ReadBuffer(std::size_t capacity)
      : data_(new char[capacity]), capacity_(capacity) {}  // not zero-filled

  const char* data() const { return data_.get() + begin_; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }

  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }

  // Room for at least `min` more bytes after the data, moving the data to the front or
  // growing (doubling) when needed; returns where to read into and sets `room`.
  char* prepare(std::size_t min, std::size_t& room) {
    if (capacity_ - end_ < min) {
      std::size_t size = end_ - begin_;
      if (capacity_ - size >= min) {
        std::memmove(data_.get(), data_.get() + begin_, size);
      } else {
        std::size_t capacity = capacity_ * 2;
        while (capacity - size < min) capacity *= 2;
        std::unique_ptr<char[]> grown(new char[capacity]);
        std::memcpy(grown.get(), data_.get() + begin_, size);
        data_ = std::move(grown);
        capacity_ = capacity;
      }
      begin_ = 0;
      end_ = size;
    }
    room = capacity_ - end_;
    return data_.get() + end_;
  }
  void commit(std::size_t n) { end_ += n; }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace switchboard::server
