using System.Diagnostics;
using System.Text;

namespace SharpSeek.Tokenizers;

/// <summary>Encode/decode throughput of a tokenizer over lines of text, 1 thread and all threads.</summary>
public static class TokenizerBenchmark
{
    /// <summary>MB/s figures are wall-clock; the <c>Cpu</c> ones divide by this process's CPU time instead, which
    /// stays meaningful when other processes compete for the cores (1-thread runs only).</summary>
    public sealed record Result(double Megabytes, long Tokens, double BytesPerToken, int Threads,
        double EncodeMbpsColdCache, double EncodeMbpsSingleThread, double EncodeMbpsSingleThreadCpu, double EncodeMbpsAllThreads,
        double DecodeMbpsSingleThread, double DecodeMbpsSingleThreadCpu, double DecodeMbpsAllThreads);

    public static Result Run(Tokenizer tokenizer, IReadOnlyList<string> lines)
    {
        long bytes = 0;
        foreach (string l in lines) bytes += Encoding.UTF8.GetByteCount(l);
        double mb = bytes / 1e6;
        var ids = new int[lines.Count][];
        // Cold: the first pass on a fresh thread fills that thread's pre-token cache.
        double cold = Time(() => RunOnNewThread(() => { for (int i = 0; i < lines.Count; i++) ids[i] = tokenizer.Encode(lines[i]); }));
        var (warm1, warm1Cpu) = TimeWithCpu(() => { for (int i = 0; i < lines.Count; i++) ids[i] = tokenizer.Encode(lines[i]); });
        int threads = Environment.ProcessorCount;
        var po = new ParallelOptions { MaxDegreeOfParallelism = threads };
        Parallel.For(0, lines.Count, po, i => tokenizer.Encode(lines[i])); // warm every worker's cache
        double warmAll = Time(() => Parallel.For(0, lines.Count, po, i => ids[i] = tokenizer.Encode(lines[i])));
        long tokens = 0;
        foreach (int[] a in ids) tokens += a.Length;
        var (dec1, dec1Cpu) = TimeWithCpu(() => { for (int i = 0; i < ids.Length; i++) tokenizer.Decode(ids[i]); });
        double decAll = Time(() => Parallel.For(0, ids.Length, po, i => tokenizer.Decode(ids[i])));
        return new Result(mb, tokens, (double)bytes / Math.Max(1, tokens), threads,
            mb / cold, mb / warm1, mb / warm1Cpu, mb / warmAll, mb / dec1, mb / dec1Cpu, mb / decAll);
    }

    private static double Time(Action action)
    {
        var sw = Stopwatch.StartNew();
        action();
        return sw.Elapsed.TotalSeconds;
    }

    private static (double Wall, double Cpu) TimeWithCpu(Action action)
    {
        using var process = Process.GetCurrentProcess();
        TimeSpan cpu0 = process.TotalProcessorTime;
        double wall = Time(action);
        process.Refresh();
        return (wall, (process.TotalProcessorTime - cpu0).TotalSeconds);
    }

    private static void RunOnNewThread(Action action)
    {
        var t = new Thread(() => action(), 64 << 20);
        t.Start();
        t.Join();
    }
}
