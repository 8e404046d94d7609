using System.CommandLine;
using Spectre.Console;
using SharpSeek.Numerics;
using SharpSeek.Numerics.Benchmarks;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek bench gemm</c> and <c>sharpseek bench memory</c>: the kernels against this machine's
/// own FMA peak and memory bandwidth, measured in the same run.</summary>
public static class GemmCommands
{
    public static IEnumerable<Command> CreateBenchCommands() => [CreateGemm(), CreateMemory()];

    private static Option<int> ThreadsOption() => new("--threads")
    {
        Description = "Threads for the multi-threaded runs (1-thread runs are always included).",
        DefaultValueFactory = _ => Environment.ProcessorCount,
    };

    private static Command CreateGemm()
    {
        var cmd = new Command("gemm", "FMA peak, then GFLOP/s of every GEMM kernel at M=N=K in --sizes and at the decode shape M=1, N=K=8192, on 1 thread and --threads threads.");
        var json = new Option<bool>("--json") { Description = "Print machine-readable JSON." };
        var threads = ThreadsOption();
        var sizes = new Option<int[]>("--sizes")
        {
            Description = "Square sizes M=N=K to run.",
            DefaultValueFactory = _ => GemmBenchmark.DefaultSizes,
            AllowMultipleArgumentsPerToken = true,
        };
        var kernels = new Option<string[]>("--kernels")
        {
            Description = $"Kernels to run: {string.Join(", ", GemmBenchmark.Kernels)}.",
            DefaultValueFactory = _ => GemmBenchmark.Kernels,
            AllowMultipleArgumentsPerToken = true,
        };
        var noDecode = new Option<bool>("--no-decode") { Description = "Skip the decode shape M=1, N=K=8192." };
        var training = new Option<bool>("--training")
        {
            Description = "Instead of --sizes and the decode shape, run the shapes a training step issues (M = 2048 tokens: "
                + "2048x768x256 in NN/NT/TN, skinny K and N, the LM head 2048x8192x256 with its gradients 2048x256x8192 NN and 8192x256x2048 TN, a weight gradient, grouped experts "
                + "16x256 rows and 32 groups of 100-500 rows) for the --kernels among f32_nn, f32_nt, f32_tn, grouped_f32.",
        };
        var seconds = new Option<double>("--seconds")
        {
            Description = "Time each case for this long (best-of and median over the repeats); more repeats find a quiet moment on a shared machine.",
            DefaultValueFactory = _ => GemmBenchmark.DefaultSeconds,
        };
        foreach (Option o in new Option[] { json, threads, sizes, kernels, noDecode, training, seconds }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            int n = CheckThreads(parse.GetValue(threads));
            double caseSeconds = parse.GetValue(seconds);
            if (!(caseSeconds is > 0 and <= 600)) throw new ArgumentException($"--seconds must be in (0, 600], got {caseSeconds}.");
            string[] names = parse.GetValue(kernels)!;
            foreach (string k in names)
                if (!GemmBenchmark.Kernels.Contains(k))
                    throw new ArgumentException($"Unknown kernel '{k}'; use one of {string.Join(", ", GemmBenchmark.Kernels)}.");
            var shapes = parse.GetValue(sizes)!.Select(s => s > 0 ? (s, s, s) : throw new ArgumentException($"--sizes must be positive, got {s}.")).ToList();
            bool trainingShapes = parse.GetValue(training);
            if (!parse.GetValue(noDecode) && !trainingShapes) shapes.Add((1, GemmBenchmark.DecodeSize, GemmBenchmark.DecodeSize));
            IReadOnlyList<GemmBenchCase>? cases = trainingShapes ? GemmBenchmark.TrainingCases(names) : null;
            if (cases is { Count: 0 })
                throw new ArgumentException("--training runs only f32_nn, f32_nt, f32_tn and grouped_f32; pass at least one of them to --kernels.");

            var peaks = new SortedDictionary<string, double>();
            var results = new List<GemmBenchResult>();
            var readGbps = new SortedDictionary<int, double>();
            bool decode = !parse.GetValue(noDecode) && !trainingShapes && names.Contains("fp8w_decode") && !parse.GetValue(json);
            foreach (int t in n == 1 ? new[] { 1 } : new[] { 1, n })
            {
                using var pool = new WorkerPool(t);
                if (decode) readGbps[t] = MachinePeak.Memory(pool, 256L << 20, repeats: 3).ReadGbps;
                double peak = MachinePeak.FmaGflopsWidest(pool).Gflops;
                var rows = cases != null ? GemmBenchmark.Run(pool, peak, cases, caseSeconds) : GemmBenchmark.Run(pool, peak, names, shapes, caseSeconds);
                peaks[t.ToString()] = Math.Max(peak, MachinePeak.FmaGflopsWidest(pool).Gflops);   // also after: the box is shared
                results.AddRange(rows.Select(r => r with { RatioToPeak = r.Gflops / peaks[t.ToString()] }));
            }
            if (parse.GetValue(json))
            {
                CliRunner.WriteJson(new
                {
                    peak_gflops = peaks,
                    results = results.Select(r => new
                    {
                        kernel = r.Kernel, m = r.M, n = r.N, k = r.K, threads = r.Threads, groups = r.Groups,
                        gflops = Math.Round(r.Gflops, 2), ratio_to_peak = Math.Round(r.RatioToPeak, 3), gbps = Math.Round(r.Gbps, 2),
                    }),
                });
                return 0;
            }
            AnsiConsole.MarkupLine($"FMA peak (register-only FMA chains, widest registers here): {string.Join(", ", peaks.Select(p => $"{p.Key} thread(s) [bold]{p.Value:F1}[/] GFLOP/s"))}");
            if (results.Any(r => r.Groups > 0)) AnsiConsole.MarkupLine("grouped_f32/G: G expert groups; M is their total rows.");
            var table = new Table().AddColumns("kernel", "M", "N", "K", "threads")
                .AddColumn(new TableColumn("GFLOP/s best").RightAligned()).AddColumn(new TableColumn("median").RightAligned())
                .AddColumn(new TableColumn("of peak").RightAligned()).AddColumn(new TableColumn("GB/s").RightAligned());
            foreach (var r in results)
                table.AddRow(r.Groups > 0 ? $"{r.Kernel}/{r.Groups}" : r.Kernel, r.M.ToString(), r.N.ToString(), r.K.ToString(), r.Threads.ToString(), $"{r.Gflops:F1}",
                    $"{r.MedianGflops:F1}", $"{r.RatioToPeak:P0}", $"{r.Gbps:F1}");
            AnsiConsole.Write(table);
            foreach (var r in results.Where(r => r.Kernel == "fp8w_decode" && r.M == 1 && readGbps.ContainsKey(r.Threads)))
                AnsiConsole.MarkupLine($"fp8w_decode {r.N}x{r.K}, {r.Threads} thread(s): streams {r.Gbps:F1} GB/s = [bold]{r.Gbps / readGbps[r.Threads]:P0}[/] of the {readGbps[r.Threads]:F1} GB/s read bandwidth measured in this run.");
            return 0;
        });
        return cmd;
    }

    private static Command CreateMemory()
    {
        var cmd = new Command("memory", "Read / copy / triad bandwidth (GB/s) over 256 MiB buffers, on 1 thread and --threads threads.");
        var json = new Option<bool>("--json") { Description = "Print machine-readable JSON." };
        var threads = ThreadsOption();
        var mib = new Option<int>("--mib") { Description = "Size of each of the three buffers in MiB.", DefaultValueFactory = _ => 256 };
        cmd.Options.Add(json);
        cmd.Options.Add(threads);
        cmd.Options.Add(mib);
        cmd.SetAction(parse =>
        {
            int n = CheckThreads(parse.GetValue(threads));
            int size = parse.GetValue(mib);
            if (size < 1 || size > 2047) throw new ArgumentException($"--mib must be in 1..2047, got {size}.");
            var results = new List<MemoryBandwidth>();
            foreach (int t in n == 1 ? new[] { 1 } : new[] { 1, n })
            {
                using var pool = new WorkerPool(t);
                results.Add(MachinePeak.Memory(pool, (long)size << 20));
            }
            if (parse.GetValue(json))
            {
                CliRunner.WriteJson(new { results });
                return 0;
            }
            var table = new Table().AddColumns("threads", "buffer MiB").AddColumn(new TableColumn("read GB/s").RightAligned())
                .AddColumn(new TableColumn("copy GB/s").RightAligned()).AddColumn(new TableColumn("triad GB/s").RightAligned());
            foreach (var r in results)
                table.AddRow(r.Threads.ToString(), (r.BufferBytes >> 20).ToString(), $"{r.ReadGbps:F1}", $"{r.CopyGbps:F1}", $"{r.TriadGbps:F1}");
            AnsiConsole.Write(table);
            return 0;
        });
        return cmd;
    }

    private static int CheckThreads(int threads) => threads is >= 1 and <= 1024 ? threads
        : throw new ArgumentException($"--threads must be in 1..1024, got {threads}.");
}
