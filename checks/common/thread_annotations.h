// Locking rules the compiler checks. With clang, -Wthread-safety (on in every
// clang build, -Werror in CI's clang build) proves that a member marked
// VIGIL_GUARDED_BY(mu_) is only touched with mu_ held and that a function
// marked VIGIL_REQUIRES(mu_) is only called with it held. Other compilers see
// empty macros. See docs/design.md, "Threads".
//
// std::mutex carries no annotations in libstdc++, so guarded state uses the
// thin wrappers below: Mutex (a std::mutex), MutexLock (its scoped lock,
// usable with CondVar) and CondVar (std::condition_variable_any).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define VIGIL_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define VIGIL_THREAD_ANNOTATION(x)
#endif

#define VIGIL_CAPABILITY(name) VIGIL_THREAD_ANNOTATION(capability(name))
#define VIGIL_SCOPED_CAPABILITY VIGIL_THREAD_ANNOTATION(scoped_lockable)
#define VIGIL_GUARDED_BY(mu) VIGIL_THREAD_ANNOTATION(guarded_by(mu))
#define VIGIL_PT_GUARDED_BY(mu) VIGIL_THREAD_ANNOTATION(pt_guarded_by(mu))
#define VIGIL_REQUIRES(...) VIGIL_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define VIGIL_EXCLUDES(...) VIGIL_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define VIGIL_ACQUIRE(...) VIGIL_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define VIGIL_RELEASE(...) VIGIL_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define VIGIL_TRY_ACQUIRE(...) VIGIL_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define VIGIL_NO_THREAD_SAFETY_ANALYSIS VIGIL_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace vigil {

class VIGIL_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() VIGIL_ACQUIRE() { mu_.lock(); }
  void unlock() VIGIL_RELEASE() { mu_.unlock(); }
  bool try_lock() VIGIL_TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  std::mutex mu_;
};

// Holds a Mutex for its scope. CondVar waits release and retake it.
class VIGIL_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) VIGIL_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() VIGIL_RELEASE() {
    if (held_) mu_.unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // For CondVar (BasicLockable); not for code that wants to drop the lock
  // early (scope it instead).
  void lock() VIGIL_ACQUIRE() {
    mu_.lock();
    held_ = true;
  }
  void unlock() VIGIL_RELEASE() {
    held_ = false;
    mu_.unlock();
  }

 private:
  Mutex& mu_;
  bool held_ = true;
};

// A condition variable for MutexLock. The predicate runs with the lock held;
// the analysis cannot see through the lambda, so predicates read guarded state
// through a VIGIL_REQUIRES member or are marked VIGIL_NO_THREAD_SAFETY_ANALYSIS.
class CondVar {
 public:
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }
  template <class Pred>
  void Wait(MutexLock& lock, Pred pred) {
    cv_.wait(lock, pred);
  }
  template <class Rep, class Period, class Pred>
  bool WaitFor(MutexLock& lock, std::chrono::duration<Rep, Period> d, Pred pred) {
    return cv_.wait_for(lock, d, pred);
  }
  template <class Clock, class Duration, class Pred>
  bool WaitUntil(MutexLock& lock, std::chrono::time_point<Clock, Duration> t, Pred pred) {
    return cv_.wait_until(lock, t, pred);
  }

 private:
  std::condition_variable_any cv_;
};

}  // namespace vigil
