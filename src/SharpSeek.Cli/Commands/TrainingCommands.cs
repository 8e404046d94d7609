// Training commands. `sharpseek bench optimizer` now; `sharpseek train` and `sharpseek bench train` join this file
// with the trainer loop (they need the layers' backward passes).
using System.CommandLine;
using System.Globalization;
using SharpSeek.Model;
using SharpSeek.Training;

namespace SharpSeek.Cli.Commands;

public static class TrainingCommands
{
    /// <summary><c>sharpseek bench optimizer</c>: one AdamW step over a preset's parameters, scalar vs vector, 1 vs N threads.</summary>
    public static Command CreateBenchOptimizer()
    {
        var cmd = new Command("optimizer", "Time one optimizer step (global-norm clip + fused AdamW) over every parameter of a model.");
        var preset = new Option<string>("--preset") { Description = "tiny, small or a config.json path.", DefaultValueFactory = _ => "tiny" };
        var threads = new Option<int>("--threads") { Description = "Threads for the parallel run (0 = all cores).", DefaultValueFactory = _ => 0 };
        var steps = new Option<int>("--steps") { Description = "Timed steps per variant.", DefaultValueFactory = _ => 10 };
        var json = new Option<bool>("--json") { Description = "Write the result as JSON." };
        cmd.Options.Add(preset);
        cmd.Options.Add(threads);
        cmd.Options.Add(steps);
        cmd.Options.Add(json);
        cmd.SetAction(parse =>
        {
            string name = parse.GetValue(preset)!;
            int n = parse.GetValue(threads);
            if (n < 0) throw new ArgumentException($"--threads must be >= 0 (got {n}).");
            int k = parse.GetValue(steps);
            if (k < 1) throw new ArgumentException($"--steps must be >= 1 (got {k}).");
            ModelConfig config = ModelConfig.FromPresetOrPath(name);
            AdamWBenchmarkResult r = AdamWBenchmark.Run(config, name, n == 0 ? Environment.ProcessorCount : n, k);
            if (parse.GetValue(json)) { CliRunner.WriteJson(r); return 0; }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"AdamW over {r.TrainedParameters:N0} trained parameters of '{r.Model}', {r.Steps} steps each:"));
            foreach (var v in r.Variants)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {v.Kernel,-6} {v.Threads} thread(s): {v.MillisecondsPerStep,8:F2} ms/step  {v.GigabytesPerSecond,6:F2} GB/s  {v.AllocatedBytesPerStep} B allocated/step"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  vector/scalar: {r.VectorOverScalar:F2}x   {r.Variants[^1].Threads} threads/1 thread: {r.ThreadsSpeedup:F2}x"));
            return 0;
        });
        return cmd;
    }
}
