/* Types for the BTF fixture. Compiled twice: by clang -target bpf (to get
 * BTF) and by the C++ tests (to get sizeof/offsetof and to build values), so
 * every layout assertion compares two independent compilers. */
#ifndef KTVM_BTF_TESTDATA_FIXTURE_TYPES_H_
#define KTVM_BTF_TESTDATA_FIXTURE_TYPES_H_

#ifdef __cplusplus
#define FX_BOOL bool
extern "C" {
#else
#define FX_BOOL _Bool
#endif

typedef unsigned long long u64;
typedef unsigned int u32;
typedef u64 fx_aliased_u64;

enum fx_color { FX_RED = 0, FX_GREEN = 1, FX_BLUE = 7 };
enum fx_signed { FX_NEG = -5, FX_ZERO = 0, FX_POS = 3 };
enum fx_wide { FX_WIDE_SMALL = 1, FX_WIDE_BIG = 0x123456789ULL };

/* Only ever declared: BTF has a FWD for it. */
struct fx_opaque;

struct fx_inner {
  int x;
  char y;
};

/* Same shape as the kernel's struct cpumask. */
struct cpumask {
  unsigned long bits[2];
};

struct fx_bits {
  unsigned int a : 3;
  int b : 5;
  unsigned int c : 1;
  FX_BOOL flag;
  signed char sc : 4;
  enum fx_signed es : 4;
  unsigned long long wide : 40;
};

struct fx_node {
  struct fx_node *next;
  int value;
};

struct fx_scalars {
  signed char s8;
  unsigned char u8;
  short s16;
  unsigned short u16;
  int s32;
  unsigned int u32v;
  long long s64;
  unsigned long long u64v;
  FX_BOOL b;
  char ch;
  float f;
  double d;
};

struct fx_task_ctx {
  int pid;
  unsigned int magic;
  union {
    u64 raw;
    struct {
      unsigned int lo;
      unsigned int hi;
    };
  };
  struct {
    union {
      int i;
      unsigned int u;
    };
    char tag[8];
  } nested;
  enum fx_color color;
  char comm[16];
  int arr[4];
  struct fx_inner inners[2];
  int matrix[2][3];
  struct fx_opaque *opaque;
  struct fx_node *head;
  const volatile fx_aliased_u64 cv;
  struct cpumask mask;
  struct fx_bits bits;
  enum fx_wide wide;
  const char *name;
  void *anything;
  int (*callback)(int);
};

struct fx_big_array {
  int many[1000];
};

#ifdef __cplusplus
}
#endif

#endif /* KTVM_BTF_TESTDATA_FIXTURE_TYPES_H_ */
