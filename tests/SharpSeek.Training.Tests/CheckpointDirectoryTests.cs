using SharpSeek.Numerics;
using SharpSeek.Training;
using SharpSeek.Training.Checkpoints;

namespace SharpSeek.Training.Tests;

public class CheckpointDirectoryTests
{
    private sealed class SimulatedCrash(string stage) : Exception($"crash at {stage}");

    private static IReadOnlyList<CheckpointFile> Files(string version) =>
    [
        new("config.json", p => File.WriteAllText(p, $"{{\"v\": \"{version}\"}}")),
        new("model.safetensors", p => File.WriteAllBytes(p, Enumerable.Repeat((byte)version[0], 4096).ToArray())),
        new("optimizer.safetensors", p => File.WriteAllBytes(p, new byte[100 + version.Length])),
    ];

    private static string VersionIn(string dir) => File.ReadAllText(Path.Combine(dir, "config.json"));

    private static string[] Entries(string dir) =>
        Directory.GetFileSystemEntries(dir).Select(e => Path.GetFileName(e)!).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void Save_ThenResolve_RoundTripsStateAndManifest_ThroughTheLink()
    {
        using var tmp = new TempDir();
        var rng = new Xoshiro256(9);
        var state = new TrainerState { Step = 12, DataPosition = 96, Seed = 9, RngState = rng.State, LastLoss = 3.5,
            Options = new TrainingOptions { Steps = 40, Lr = 2e-3 } };
        string dir = CheckpointDirectory.Save(tmp.Path, Files("a"), state);
        Assert.Equal(Path.Combine(tmp.Path, CheckpointDirectory.CurrentName), dir);
        Assert.Equal(dir, CheckpointDirectory.Resolve(tmp.Path));
        Assert.Equal("checkpoint-000012", new DirectoryInfo(dir).LinkTarget);
        TrainerState back = TrainerState.Load(Path.Combine(dir, TrainerState.FileName));
        Assert.Equal((12L, 96L, 3.5), (back.Step, back.DataPosition, back.LastLoss!.Value));
        Assert.Equal(rng.State, back.RngState);
        Assert.Equal(2e-3, back.Options!.Lr);
        Assert.Equal(4096, back.Files["model.safetensors"]);
        Assert.Equal(3, back.Files.Count);
        Assert.Equal(["checkpoint", "checkpoint-000012"], Entries(tmp.Path));
    }

    [Theory]
    [InlineData("{\"format\": 1, \"files\": null}", "'files'")]
    [InlineData("{\"format\": 1, \"rng_state\": null}", "'rng_state'")]
    [InlineData("{\"format\": 1, \"step\": ", "not a valid trainer state")]
    public void Load_BrokenState_IsRejectedNamingTheFileAndField(string json, string fragment)
    {
        using var tmp = new TempDir();
        string path = Path.Combine(tmp.Path, TrainerState.FileName);
        File.WriteAllText(path, json);
        var e = Assert.Throws<InvalidDataException>(() => TrainerState.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void SavingTheSameStepAgain_NeverDeletesTheLiveCheckpoint()
    {
        using var tmp = new TempDir();
        CheckpointDirectory.Save(tmp.Path, Files("a"), new TrainerState { Step = 5 });
        string dir = CheckpointDirectory.Save(tmp.Path, Files("b"), new TrainerState { Step = 5 });
        Assert.Contains("b", VersionIn(dir));
        Assert.Equal("checkpoint-000005.1", new DirectoryInfo(dir).LinkTarget);
        Assert.Equal(["checkpoint", "checkpoint-000005.1"], Entries(tmp.Path));
    }

    [Theory]
    [InlineData("begin", 1)]
    [InlineData("file:config.json", 1)]
    [InlineData("file:model.safetensors", 1)]
    [InlineData("file:optimizer.safetensors", 1)]
    [InlineData("written", 1)]
    [InlineData("renamed", 1)]
    [InlineData("linked", 2)]
    public void CrashDuringSave_LeavesTheLinkOnACompleteCheckpoint_AndNextSaveRecovers(string stage, long expectedStep)
    {
        using var tmp = new TempDir();
        CheckpointDirectory.Save(tmp.Path, Files("old"), new TrainerState { Step = 1 });
        Assert.Throws<SimulatedCrash>(() => CheckpointDirectory.Save(tmp.Path, Files("new"), new TrainerState { Step = 2 },
            s => { if (s == stage) throw new SimulatedCrash(s); }));

        string current = Path.Combine(tmp.Path, CheckpointDirectory.CurrentName);
        Assert.True(CheckpointDirectory.IsComplete(current));          // what `generate --model <out>/checkpoint` opens
        Assert.Equal(current, CheckpointDirectory.Resolve(tmp.Path)); // what --resume opens
        Assert.Equal(expectedStep, TrainerState.Load(Path.Combine(current, TrainerState.FileName)).Step);
        Assert.Contains(expectedStep == 1 ? "old" : "new", VersionIn(current));

        string next = CheckpointDirectory.Save(tmp.Path, Files("newer"), new TrainerState { Step = 3 });
        Assert.Contains("newer", VersionIn(next));
        Assert.Equal(next, CheckpointDirectory.Resolve(tmp.Path));
        Assert.Equal(["checkpoint", "checkpoint-000003"], Entries(tmp.Path));
    }

    [Fact]
    public void BrokenLink_FallsBackToTheNewestCompleteVersion()
    {
        using var tmp = new TempDir();
        CheckpointDirectory.Save(tmp.Path, Files("a"), new TrainerState { Step = 4 });
        Assert.Throws<SimulatedCrash>(() => CheckpointDirectory.Save(tmp.Path, Files("b"), new TrainerState { Step = 7 },
            s => { if (s == "renamed") throw new SimulatedCrash(s); }));
        File.Delete(Path.Combine(tmp.Path, CheckpointDirectory.CurrentName));
        string? dir = CheckpointDirectory.Resolve(tmp.Path);
        Assert.Equal(Path.Combine(tmp.Path, "checkpoint-000007"), dir);
    }

    [Fact]
    public void PlainCheckpointDirectoryOfAnOlderBuild_IsAdopted()
    {
        using var tmp = new TempDir();
        string legacy = Path.Combine(tmp.Path, CheckpointDirectory.CurrentName);
        CheckpointDirectory.Save(Path.Combine(tmp.Path, "x"), Files("old"), new TrainerState { Step = 3 });
        Directory.CreateDirectory(legacy);
        foreach (string f in Directory.GetFiles(Path.Combine(tmp.Path, "x", CheckpointDirectory.CurrentName)))
            File.Copy(f, Path.Combine(legacy, Path.GetFileName(f)));
        Directory.Delete(Path.Combine(tmp.Path, "x"), recursive: true);
        Assert.Equal(legacy, CheckpointDirectory.Resolve(tmp.Path));
        string dir = CheckpointDirectory.Save(tmp.Path, Files("new"), new TrainerState { Step = 4 });
        Assert.Contains("new", VersionIn(dir));
        Assert.Equal(["checkpoint", "checkpoint-000004"], Entries(tmp.Path));
    }

    [Fact]
    public void TruncatedFile_MakesCheckpointIncomplete()
    {
        using var tmp = new TempDir();
        string dir = CheckpointDirectory.Save(tmp.Path, Files("a"), new TrainerState());
        string model = Path.Combine(dir, "model.safetensors");
        File.WriteAllBytes(model, File.ReadAllBytes(model)[..100]);
        Assert.False(CheckpointDirectory.IsComplete(dir));
        Assert.Null(CheckpointDirectory.Resolve(tmp.Path));
    }

    [Fact]
    public void ReservedOrNestedNames_AreRejected()
    {
        using var tmp = new TempDir();
        Assert.Throws<ArgumentException>(() => CheckpointDirectory.Save(tmp.Path,
            [new CheckpointFile(TrainerState.FileName, _ => { })], new TrainerState()));
        Assert.Throws<ArgumentException>(() => CheckpointDirectory.Save(tmp.Path,
            [new CheckpointFile("a/b", _ => { })], new TrainerState()));
    }

    [Fact]
    public void Rng_StateRestores_TheSameStream_AndGaussianHasUnitMoments()
    {
        var a = new Xoshiro256(5);
        for (int i = 0; i < 10; i++) a.NextUInt64();
        var b = new Xoshiro256(0) { State = a.State };
        for (int i = 0; i < 10; i++) Assert.Equal(a.NextUInt64(), b.NextUInt64());
        var x = new float[200_000];
        new Xoshiro256(1).FillNormal(x, 0.006);
        double mean = x.Average(v => (double)v), var = x.Average(v => (double)v * v) - mean * mean;
        Assert.InRange(mean, -0.0001, 0.0001);
        Assert.InRange(Math.Sqrt(var), 0.00597, 0.00603);
        Assert.Throws<InvalidDataException>(() => a.State = [0, 0, 0, 0]);
    }
}
