// kill -9 during a checkpoint save, for real: the built `sharpseek train` runs as a child process that saves after
// every step; it is SIGKILLed inside chosen save stages (SHARPSEEK_CHECKPOINT_PAUSE stops it there, mid-file
// included) and at seeded random moments. After every kill, <out>/checkpoint must be complete and consistent
// through both loaders — the one `generate` uses (CheckpointLoader) and the one `--resume` uses
// (TrainingCheckpoint) — and the next launch `--resume`s from it at exactly its step.
using System.Diagnostics;
using System.Text.RegularExpressions;
using SharpSeek.Model;
using SharpSeek.Model.Checkpoints;
using SharpSeek.Training.Checkpoints;

namespace SharpSeek.Training.Tests;

public sealed partial class KillDuringSaveTests : IDisposable
{
    private readonly TempDir _tmp = new();
    private string Out => Path.Combine(_tmp.Path, "run");
    private string Current => Path.Combine(Out, CheckpointDirectory.CurrentName);

    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void KilledInsideAndAroundSaves_CheckpointStaysLoadable_AndResumeContinuesFromIt()
    {
        string config = Path.Combine(_tmp.Path, "micro.json");
        TrainerTests.Micro().Save(config);
        string data = Path.Combine(_tmp.Path, "corpus.txt");
        string head = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "brown-ca01-head.txt"));
        File.WriteAllText(data, string.Concat(Enumerable.Repeat(head, 30)));
        string[] args =
        [
            "train", "--preset", config, "--data", data, "--out", Out, "--steps", "1000", "--batch", "2", "--seq", "16",
            "--threads", "1", "--warmup-steps", "2", "--eval-interval", "0", "--save-interval", "1", "--sample-tokens", "0", "--plain",
        ];

        // (pause stage of the N-th save of the launch, step expected at <out>/checkpoint relative to the launch's start):
        // a stage before the link switch leaves the previous save live; "linked" the new one.
        (string Pause, int Saved)[] planned =
        [
            ("writing:model.safetensors@3", 2), ("file:model.safetensors@2", 1), ("writing:optimizer.safetensors@2", 1),
            ("written@2", 1), ("renamed@2", 1), ("linked@2", 2),
        ];
        long live = 0;
        foreach (var (pause, saved) in planned)
        {
            long from = live;
            Launch(args, resume: live > 0, pause, out long resumedFrom);
            Assert.Equal(from, resumedFrom);
            live = AssertLoadable();
            Assert.Equal(from + saved, live);
        }

        var rng = new Random(20261129);
        for (int kill = 0; kill < 3; kill++)
        {
            long from = live;
            Launch(args, resume: true, null, out long resumedFrom, killAfterMs: rng.Next(0, 400));
            Assert.Equal(from, resumedFrom);
            live = AssertLoadable();
            Assert.True(live >= from, $"the checkpoint went back from step {from} to {live}");
        }
        Assert.True(Directory.GetDirectories(Out, ".checkpoint-*.tmp").Length <= 1, "more than one save was in progress");
    }

    /// <summary>Checks <c>&lt;out&gt;/checkpoint</c> with both loaders and returns its step.</summary>
    private long AssertLoadable()
    {
        Assert.True(CheckpointDirectory.IsComplete(Current), $"{Current} is not a complete checkpoint after kill -9");
        Assert.Equal(Current, CheckpointDirectory.Resolve(Out));
        var (config, weights) = CheckpointLoader.Load(Current);                     // `sharpseek generate --model`
        using (weights)
        {
            using var store = ParameterStore.ForModel(config, Trainer.DecayRuleFor(config));
            using var optimizer = new AdamW(store);
            TrainerState state = TrainingCheckpoint.Load(Current, store, optimizer);  // `--resume`: step agrees with the optimizer's
            for (int i = 0; i < store.Slots.Count; i++)
            {
                ReadOnlySpan<float> w = store.Weights(i);
                foreach (float x in w) Assert.True(float.IsFinite(x), $"{store.Slots[i].Name} has a non-finite weight");
                Assert.True(w.SequenceEqual(Values(weights, store.Slots[i].Name, w.Length)), $"{store.Slots[i].Name} differs between the loaders");
            }
            return state.Step;
        }
    }

    private static unsafe ReadOnlySpan<float> Values(ModelWeights w, string name, int length)
    {
        if (w.IsVector(name)) return w.Vector(name).Span;
        var (linear, group) = w.Slot(name);
        return new ReadOnlySpan<float>(linear.F32Values.Pointer + group * linear.GroupElements, length);
    }

    /// <summary>Starts `sharpseek train`, waits for the pause marker (or for the first checkpoint line plus
    /// <paramref name="killAfterMs"/>), then SIGKILLs it.</summary>
    private void Launch(string[] args, bool resume, string? pause, out long resumedFrom, int killAfterMs = 0)
    {
        var psi = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sharpseek.dll"));
        foreach (string a in args) psi.ArgumentList.Add(a);
        if (resume) psi.ArgumentList.Add("--resume");
        psi.Environment["SHARPSEEK_CACHE"] = Path.Combine(_tmp.Path, "cache");
        psi.Environment[SavePause.EnvironmentVariable] = pause ?? "";

        var output = new System.Text.StringBuilder();
        var signal = new ManualResetEventSlim();
        using var process = new Process { StartInfo = psi };
        void OnLine(string? line)
        {
            if (line is null) return;
            lock (output) output.AppendLine(line);
            bool ready = pause is not null ? line.StartsWith(SavePause.Marker + pause[..pause.LastIndexOf('@')], StringComparison.Ordinal)
                                           : line.StartsWith("checkpoint: ", StringComparison.Ordinal);
            if (ready) signal.Set();
        }
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var deadline = Stopwatch.StartNew();
            while (!signal.Wait(100))
            {
                if (process.HasExited || deadline.Elapsed > TimeSpan.FromMinutes(3))
                    Assert.Fail($"sharpseek train (pause '{pause}') {(process.HasExited ? $"exited with {process.ExitCode}" : "timed out")} before the kill point:\n{output}");
            }
            if (killAfterMs > 0) Thread.Sleep(killAfterMs);
        }
        finally
        {
            if (!process.HasExited) process.Kill();   // SIGKILL on Unix
            process.WaitForExit();
        }
        Match m = ResumedLine().Match(output.ToString());
        resumedFrom = m.Success ? long.Parse(m.Groups[1].Value) : 0;
        Assert.Equal(resume, m.Success);
    }

    /// <summary>The `dotnet` running these tests (DOTNET_HOST_PATH under `dotnet test`), else the one on the PATH.</summary>
    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host
        : Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";

    [GeneratedRegex(@"^resumed from step (\d+)", RegexOptions.Multiline)]
    private static partial Regex ResumedLine();
}
