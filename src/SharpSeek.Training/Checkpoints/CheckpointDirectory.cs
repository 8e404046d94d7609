// CheckpointDirectory — crash-safe replacement of a checkpoint directory.
//
//   <out>/checkpoint/        the current checkpoint (HF layout + trainer_state.json + optimizer.safetensors)
//   <out>/checkpoint.prev/   the previous one, only while a save is switching over
//   <out>/.checkpoint.tmp/   a save in progress
//
// Save: write every file into .checkpoint.tmp, fsync each file and the directory; rename checkpoint → .prev; rename
// .tmp → checkpoint; fsync <out>; delete .prev. A POSIX rename cannot replace a non-empty directory in one step,
// hence the two renames. A kill -9 at any point leaves a loadable checkpoint: before the first rename the old one
// is untouched; between the renames only .prev exists and Resolve picks it; after the second, the new one is
// complete. The file list with byte sizes is recorded in trainer_state.json, written last, and Resolve verifies it,
// so a directory is only ever taken as a checkpoint when every file it names is present and whole.
using System.Runtime.InteropServices;
using System.Text.Json;

namespace SharpSeek.Training.Checkpoints;

/// <summary>One file of a checkpoint: its name inside the directory and how to write it.</summary>
public sealed record CheckpointFile(string Name, Action<string> WriteTo);

public static partial class CheckpointDirectory
{
    public const string CurrentName = "checkpoint";
    public const string PreviousName = "checkpoint.prev";
    public const string TemporaryName = ".checkpoint.tmp";

    /// <summary>Writes <paramref name="files"/> plus <paramref name="state"/> (last, with the file manifest) as
    /// <c>&lt;out&gt;/checkpoint</c>, replacing the previous checkpoint only once the new one is complete.
    /// <paramref name="faultInjector"/> (tests) is called with a stage name — "file:NAME" after each file, "retired"
    /// between the two renames — and throwing from it simulates a crash at that point.</summary>
    public static string Save(string outDir, IReadOnlyList<CheckpointFile> files, TrainerState state, Action<string>? faultInjector = null)
    {
        Directory.CreateDirectory(outDir);
        string current = Path.Combine(outDir, CurrentName), previous = Path.Combine(outDir, PreviousName);
        string tmp = Path.Combine(outDir, TemporaryName);
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true); // an earlier save that died
        if (Directory.Exists(previous) && !Directory.Exists(current)) Directory.Move(previous, current); // died between renames
        Directory.CreateDirectory(tmp);

        var manifest = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (CheckpointFile f in files)
        {
            if (f.Name == TrainerState.FileName || f.Name.Contains('/') || f.Name.Contains('\\'))
                throw new ArgumentException($"checkpoint file name '{f.Name}' is reserved or not a plain file name.");
            string path = Path.Combine(tmp, f.Name);
            f.WriteTo(path);
            FsyncFile(path);
            manifest[f.Name] = new FileInfo(path).Length;
            faultInjector?.Invoke("file:" + f.Name);
        }
        string statePath = Path.Combine(tmp, TrainerState.FileName);
        File.WriteAllText(statePath, (state with { Files = manifest }).ToJson());
        FsyncFile(statePath);
        FsyncDirectory(tmp);

        if (Directory.Exists(previous)) Directory.Delete(previous, recursive: true);
        if (Directory.Exists(current)) Directory.Move(current, previous);
        faultInjector?.Invoke("retired");
        Directory.Move(tmp, current);
        FsyncDirectory(outDir);
        if (Directory.Exists(previous)) Directory.Delete(previous, recursive: true);
        return current;
    }

    /// <summary>The newest complete checkpoint under <paramref name="outDir"/> (current, else the previous one left
    /// by a save that was killed), or null when there is none.</summary>
    public static string? Resolve(string outDir)
    {
        foreach (string name in (ReadOnlySpan<string>)[CurrentName, PreviousName])
        {
            string dir = Path.Combine(outDir, name);
            if (IsComplete(dir)) return dir;
        }
        return null;
    }

    /// <summary>True when <paramref name="dir"/> has a trainer_state.json whose manifest matches the files on disk.</summary>
    public static bool IsComplete(string dir)
    {
        string statePath = Path.Combine(dir, TrainerState.FileName);
        if (!File.Exists(statePath)) return false;
        TrainerState state;
        try { state = TrainerState.Load(statePath); }
        catch (Exception e) when (e is JsonException or InvalidDataException) { return false; }
        foreach (var (name, bytes) in state.Files)
        {
            var fi = new FileInfo(Path.Combine(dir, name));
            if (!fi.Exists || fi.Length != bytes) return false;
        }
        return true;
    }

    private static void FsyncFile(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        fs.Flush(flushToDisk: true);
    }

    /// <summary>fsync of a directory makes the renames and new entries in it durable (POSIX only; a no-op elsewhere).</summary>
    private static void FsyncDirectory(string dir)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd = Open(dir, 0 /* O_RDONLY */);
        if (fd < 0) return; // best effort: some file systems refuse to open directories
        try { _ = Fsync(fd); }
        finally { _ = Close(fd); }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);
    [LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int Fsync(int fd);
    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
