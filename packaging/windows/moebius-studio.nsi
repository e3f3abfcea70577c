; Windows installer of Moebius Studio (NSIS 3, Modern UI 2). It wraps the PyInstaller folder
; dist\moebius-studio; nothing is unpacked at start-up later, the installed folder is what runs.
;
; Compile (packaging/windows/build_installer.py sets all of this):
;   makensis -DVERSION=0.1.0 -DVARIANT=cpu -DBUNDLE_DIR=dist/moebius-studio -DOUTFILE=dist/setup.exe
;            [-DICON=build/moebius-studio.ico] [-DVCREDIST=path/to/vc_redist.x64.exe] moebius-studio.nsi
;
; VC++ runtime: Python, Qt and torch need the Microsoft Visual C++ 2015-2022 runtime (x64). Python's and
; torch's copies of the main DLLs travel in the bundle, but torch's other libraries expect the system-wide
; runtime. The installer checks for it; with -DVCREDIST it carries Microsoft's redistributable and runs it
; quietly when missing, without it it tells the user where to get it.

Unicode true
SetCompressor /SOLID lzma
ManifestDPIAware true

!ifndef VERSION
  !error "pass -DVERSION=x.y.z"
!endif
!ifndef BUNDLE_DIR
  !error "pass -DBUNDLE_DIR=<the PyInstaller folder, e.g. dist/moebius-studio>"
!endif
!ifndef VARIANT
  !define VARIANT "cpu"
!endif
!ifndef OUTFILE
  !define OUTFILE "moebius-studio-${VERSION}-windows-x64-${VARIANT}-setup.exe"
!endif

!define APP_NAME "Moebius Studio"
!define APP_EXE "moebius-studio.exe"
!define PROG_ID "MoebiusStudio.Image"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\MoebiusStudio"
!define VCRT_KEY "SOFTWARE\Microsoft\VisualStudio\14.0\VC\Runtimes\x64"
!define VCRT_URL "https://aka.ms/vs/17/release/vc_redist.x64.exe"

!include "MUI2.nsh"
!include "x64.nsh"
!include "LogicLib.nsh"

Name "${APP_NAME} ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\${APP_NAME}"
InstallDirRegKey HKLM "${UNINSTALL_KEY}" "InstallLocation"
RequestExecutionLevel admin
BrandingText "${APP_NAME} ${VERSION} (${VARIANT})"

VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${APP_NAME}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${APP_NAME} installer (${VARIANT})"
VIAddVersionKey "LegalCopyright" "Moebius Studio contributors"

!ifdef ICON
  !define MUI_ICON "${ICON}"
  !define MUI_UNICON "${ICON}"
!endif
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\${APP_EXE}"
!define MUI_FINISHPAGE_RUN_TEXT "Start ${APP_NAME}"

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_LICENSE "${BUNDLE_DIR}/_internal/licenses/README.txt"
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

; "Open with" entries for one file type; the user's default program for it is left alone.
!macro Associate EXT
  WriteRegStr HKLM "Software\Classes\${EXT}\OpenWithProgids" "${PROG_ID}" ""
  WriteRegStr HKLM "Software\Classes\Applications\${APP_EXE}\SupportedTypes" "${EXT}" ""
!macroend
!macro Unassociate EXT
  DeleteRegValue HKLM "Software\Classes\${EXT}\OpenWithProgids" "${PROG_ID}"
!macroend

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "${APP_NAME} needs 64-bit Windows."
    Abort
  ${EndIf}
  SetRegView 64
FunctionEnd

Function un.onInit
  SetRegView 64
FunctionEnd

Section "!${APP_NAME} (required)" SecApp
  SectionIn RO
  SetOutPath "$INSTDIR"
  ; A previous version's files would mix with this one's: remove them first (settings and models live in
  ; %LOCALAPPDATA%\moebius-studio and are kept).
  RMDir /r "$INSTDIR\_internal"
  File /r "${BUNDLE_DIR}/*"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateDirectory "$SMPROGRAMS\${APP_NAME}"
  CreateShortcut "$SMPROGRAMS\${APP_NAME}\${APP_NAME}.lnk" "$INSTDIR\${APP_EXE}" "" "$INSTDIR\${APP_EXE}" 0
  CreateShortcut "$SMPROGRAMS\${APP_NAME}\Uninstall ${APP_NAME}.lnk" "$INSTDIR\uninstall.exe"

  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayName" "${APP_NAME}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "Publisher" "Moebius Studio contributors"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\${APP_EXE}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoRepair" 1

  Call EnsureVcRuntime
SectionEnd

; Offered in Explorer's "Open with" for photos, never taken over as the default program: the app edits copies
; and saves NAME_inpainted, so it should not replace the user's photo viewer.
Section "Open photos with ${APP_NAME} (file associations)" SecAssoc
  WriteRegStr HKLM "Software\Classes\${PROG_ID}" "" "Photo (${APP_NAME})"
  WriteRegStr HKLM "Software\Classes\${PROG_ID}\DefaultIcon" "" "$INSTDIR\${APP_EXE},0"
  WriteRegStr HKLM "Software\Classes\${PROG_ID}\shell\open\command" "" '"$INSTDIR\${APP_EXE}" "%1"'
  WriteRegStr HKLM "Software\Classes\Applications\${APP_EXE}\shell\open\command" "" '"$INSTDIR\${APP_EXE}" "%1"'
  !insertmacro Associate ".png"
  !insertmacro Associate ".jpg"
  !insertmacro Associate ".jpeg"
  !insertmacro Associate ".tif"
  !insertmacro Associate ".tiff"
  !insertmacro Associate ".webp"
  !insertmacro Associate ".bmp"
  System::Call 'shell32::SHChangeNotify(i 0x08000000, i 0, p 0, p 0)'  ; SHCNE_ASSOCCHANGED
SectionEnd

Section /o "Desktop shortcut" SecDesktop
  CreateShortcut "$DESKTOP\${APP_NAME}.lnk" "$INSTDIR\${APP_EXE}"
SectionEnd

!insertmacro MUI_FUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${SecApp} "The app and the moebius-inpaint command line."
  !insertmacro MUI_DESCRIPTION_TEXT ${SecAssoc} "List ${APP_NAME} under 'Open with' for PNG, JPEG, TIFF, WebP and BMP photos."
  !insertmacro MUI_DESCRIPTION_TEXT ${SecDesktop} "A shortcut on the desktop."
!insertmacro MUI_FUNCTION_DESCRIPTION_END

Function EnsureVcRuntime
  ReadRegDWORD $0 HKLM "${VCRT_KEY}" "Installed"
  ${If} $0 == 1
    Return
  ${EndIf}
!ifdef VCREDIST
  DetailPrint "Installing the Microsoft Visual C++ runtime"
  InitPluginsDir
  File "/oname=$PLUGINSDIR\vc_redist.x64.exe" "${VCREDIST}"
  ExecWait '"$PLUGINSDIR\vc_redist.x64.exe" /install /quiet /norestart' $1
  ; 3010: installed, restart needed later; 1638: a newer version is already there.
  ${If} $1 != 0
  ${AndIf} $1 != 3010
  ${AndIf} $1 != 1638
    MessageBox MB_ICONEXCLAMATION "The Visual C++ runtime could not be installed (code $1). Install it from ${VCRT_URL}"
  ${EndIf}
!else
  MessageBox MB_ICONINFORMATION|MB_OK "${APP_NAME} needs the Microsoft Visual C++ 2015-2022 runtime (x64), which is not installed. Download it from ${VCRT_URL} and run it before starting ${APP_NAME}." /SD IDOK
!endif
FunctionEnd

Section "Uninstall"
  Delete "$SMPROGRAMS\${APP_NAME}\${APP_NAME}.lnk"
  Delete "$SMPROGRAMS\${APP_NAME}\Uninstall ${APP_NAME}.lnk"
  RMDir "$SMPROGRAMS\${APP_NAME}"
  Delete "$DESKTOP\${APP_NAME}.lnk"

  !insertmacro Unassociate ".png"
  !insertmacro Unassociate ".jpg"
  !insertmacro Unassociate ".jpeg"
  !insertmacro Unassociate ".tif"
  !insertmacro Unassociate ".tiff"
  !insertmacro Unassociate ".webp"
  !insertmacro Unassociate ".bmp"
  DeleteRegKey HKLM "Software\Classes\${PROG_ID}"
  DeleteRegKey HKLM "Software\Classes\Applications\${APP_EXE}"
  System::Call 'shell32::SHChangeNotify(i 0x08000000, i 0, p 0, p 0)'
  DeleteRegKey HKLM "${UNINSTALL_KEY}"

  ; Only the program folder: the user's settings, models and photos stay.
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\moebius-studio.exe"
  Delete "$INSTDIR\moebius-inpaint.exe"
  Delete "$INSTDIR\build-info.json"
  Delete "$INSTDIR\uninstall.exe"
  RMDir /r "$INSTDIR\models"
  RMDir "$INSTDIR"
SectionEnd
