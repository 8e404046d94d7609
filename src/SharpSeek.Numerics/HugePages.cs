// HugePages: where NativeBuffer gets its memory. Buffers of at least 2 MB start on a 2 MB boundary and are marked
// MADV_HUGEPAGE, so on Linux with transparent huge pages set to "madvise" (the common default, and this machine's)
// the kernel backs them with 2 MB pages. Streaming weights then crosses a page — and misses the TLB — once per
// 2 MB instead of once per 4 KB: measured side by side in one process, batch-1 decode of `small` 1.09-1.12x faster
// (BF16, FP8) and a `tiny` / `small` training step 1.03x on 2 threads (DESIGN §8). The advice is only advice: a
// kernel without THP, or with it set to "never", gives ordinary pages and the same results.
// SHARPSEEK_HUGE_PAGES=0 turns it off (to compare, or where memory is too fragmented for huge pages to be cheap).
using System.Runtime.InteropServices;

namespace SharpSeek.Numerics;

public static unsafe partial class HugePages
{
    /// <summary>The huge-page size the allocation aligns to (x86-64 and arm64 with 4 KB base pages).</summary>
    public const int PageBytes = 2 << 20;

    private const int MadvHugePage = 14;

    /// <summary>Whether buffers of at least <see cref="PageBytes"/> ask for huge pages: on Linux unless
    /// SHARPSEEK_HUGE_PAGES=0.</summary>
    public static bool Enabled { get; set; } =
        OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("SHARPSEEK_HUGE_PAGES") != "0";

    /// <summary><paramref name="bytes"/> of memory aligned to <paramref name="alignment"/>, and to
    /// <see cref="PageBytes"/> with MADV_HUGEPAGE when huge pages are <see cref="Enabled"/> and the block spans one.
    /// Free with NativeMemory.AlignedFree. Only whole 2 MB pages inside the block become huge; its tail keeps 4 KB
    /// pages, so no memory is spent beyond what was asked for.</summary>
    public static void* Alloc(nuint bytes, nuint alignment)
    {
        if (!Enabled || bytes < PageBytes) return NativeMemory.AlignedAlloc(bytes, alignment);
        void* p = NativeMemory.AlignedAlloc(bytes, Math.Max(alignment, PageBytes));
        _ = Madvise(p, bytes, MadvHugePage); // advice: a kernel without THP answers EINVAL and pages stay 4 KB
        return p;
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(void* address, nuint length, int advice);
}
