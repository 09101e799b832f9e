//===- Diagnostics.cpp - How lowbit's tools print diagnostics -------------===//

#include "lowbit/Compiler/Diagnostics.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Location.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

static void printLocation(Location loc, llvm::raw_ostream &os) {
  llvm::TypeSwitch<LocationAttr>(loc)
      .Case<FileLineColLoc>([&](FileLineColLoc file) {
        os << file.getFilename().getValue();
        if (file.getLine() != 0) // imported ONNX has no lines to point at
          os << ":" << file.getLine() << ":" << file.getColumn();
      })
      .Case<NameLoc>([&](NameLoc name) {
        if (!isa<UnknownLoc>(name.getChildLoc())) {
          printLocation(name.getChildLoc(), os);
          os << ": ";
        }
        os << "node '" << name.getName().getValue() << "'";
      })
      .Case<FusedLoc>([&](FusedLoc fused) {
        if (!fused.getLocations().empty())
          printLocation(fused.getLocations().front(), os);
      })
      .Case<CallSiteLoc>([&](CallSiteLoc site) { printLocation(site.getCallee(), os); })
      .Default([&](LocationAttr other) { os << other; });
}

static StringRef severityName(DiagnosticSeverity severity) {
  switch (severity) {
  case DiagnosticSeverity::Error: return "error";
  case DiagnosticSeverity::Warning: return "warning";
  case DiagnosticSeverity::Note: return "note";
  case DiagnosticSeverity::Remark: return "remark";
  }
  return "error";
}

void lowbit::printDiagnostic(Diagnostic &diag, llvm::raw_ostream &os) {
  printLocation(diag.getLocation(), os);
  os << ": " << severityName(diag.getSeverity()) << ": " << diag.str() << "\n";
  for (Diagnostic &note : diag.getNotes()) {
    printLocation(note.getLocation(), os);
    os << ": note: " << note.str() << "\n";
  }
}
