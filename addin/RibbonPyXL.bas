Attribute VB_Name = "RibbonPyXL"
' PyXL ribbon callbacks (customUI.xml: tab "PyXL").  Source: addin/RibbonPyXL.bas.
Option Explicit

Public Sub RunMain(control As IRibbonControl)
    ' The Run button: pyxl.main() dispatches on the role of the active sheet.
    RunPython "import pyxl; pyxl.main()"
End Sub

Public Sub Recalculate(control As IRibbonControl)
    ' Empty PyXL's bounded formula cache and object handles in the UDF server, then recalculate.
    On Error GoTo failed
    XLPy.Call XLPy.Module("pyxl.xl.cache"), "clear_all"
    XLPy.Call XLPy.Module("pyxl.xl.handles"), "clear"
    Application.StatusBar = False
    Application.CalculateFull
    Exit Sub
failed:
    Application.StatusBar = "PyXL: could not clear the cache (" & Err.Description & "); recalculating anyway"
    Application.CalculateFull
End Sub

Public Sub ImportFunctions(control As IRibbonControl)
    ' xlwings' own import into this add-in: replaces the module xlwings_udfs.
    ImportPythonUDFsToAddin
    Application.StatusBar = "PyXL: formulas re-imported into the add-in (save it from the VBA editor to keep them)"
End Sub

Public Sub RestartPython(control As IRibbonControl)
    On Error GoTo failed
    KillPy
    Application.StatusBar = "PyXL: Python stopped; the next formula starts a fresh UDF server"
    Exit Sub
failed:
    Application.StatusBar = "PyXL: " & Err.Description
End Sub

Public Sub ShowHelp(control As IRibbonControl)
    MsgBox "PyXL: quantitative portfolio formulas and engines for Excel." & vbCrLf & vbCrLf & _
        "Formulas (Windows): type =KELLY_LEVERAGE( ... or find them in the Function Wizard, category PyXL. " & _
        "Wrong inputs show one line '#PyXL! argument: problem; fix'." & vbCrLf & vbCrLf & _
        "Run: in a PyXL template (workbooks\*.xlsx) runs its engine and writes only the Out_ sheets; " & _
        "progress is in the status bar, problems in the Out_Log sheet." & vbCrLf & vbCrLf & _
        "Recalculate: clears PyXL's cache and recalculates. Restart Python: after upgrading PyXL." & vbCrLf & vbCrLf & _
        "Settings: sheet pyxl.conf of this add-in (UDF Modules = pyxl.udfs, Interpreter_Win). " & _
        "Documentation: docs\excel.md in the PyXL source.", vbInformation, "PyXL"
End Sub
